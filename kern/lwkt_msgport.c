/*
 * Message ports (sys/msgport.h).  Queuing happens on the CPU of the
 * port's owner thread, inside a critical section: a message for a port on
 * another CPU travels there as an IPIQ message (port_put_ipi).  A reply is
 * queued the same way on the message's reply port, and only there, on
 * that CPU, is it marked MSGF_DONE, so a waiter never sees a reply that is
 * still on its way.  Ports are expected not to change CPU while messages
 * to them are in flight.  mp_replies_due (sys/msgport.h) lets a port's
 * owner wait, before it exits, for the replies still coming to it.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/msgport.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

void
lwkt_initport(struct lwkt_port *port, struct thread *td)
{
	TAILQ_INIT(&port->mp_msgq);
	port->mp_td = td;
	port->mp_flags = 0;
	port->mp_replies_due = 0;
}

void
lwkt_initmsg(struct lwkt_msg *msg, struct lwkt_port *reply_port, int cmd)
{
	memset(msg, 0, sizeof(*msg));
	msg->ms_reply_port = reply_port != NULL ? reply_port :
	    &curthread->td_msgport;
	msg->ms_cmd = cmd;
	msg->ms_flags = MSGF_DONE;	/* idle: not in flight */
}

/* Port owner's CPU, critical section. */
static void
port_put_local(struct lwkt_port *port, struct lwkt_msg *msg)
{
	if (msg->ms_flags & MSGF_REPLY)
		msg->ms_flags |= MSGF_DONE;
	msg->ms_flags |= MSGF_QUEUED;
	TAILQ_INSERT_TAIL(&port->mp_msgq, msg, ms_link);
	if (msg->ms_flags & MSGF_REPLY) {
		KASSERT(port->mp_replies_due > 0, ("lwkt_replymsg: message %p "
		    "was never sent with reply port %p", msg, port));
		atomic_subtract_int(&port->mp_replies_due, 1);
	}
	if (port->mp_flags & MSGPORTF_WAITING) {
		port->mp_flags &= ~MSGPORTF_WAITING;
		if (msg->ms_flags & MSGF_NORESCHED)
			lwkt_schedule_noresched(port->mp_td);
		else
			lwkt_schedule(port->mp_td);
	}
}

static void
port_put_ipi(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	struct lwkt_msg *msg = arg;

	port_put_local(msg->ms_target, msg);
}

static void
port_put(struct lwkt_port *port, struct lwkt_msg *msg)
{
	struct globaldata *gd = port->mp_td->td_gd;

	msg->ms_target = port;
	if (gd != mycpu) {
		lwkt_send_ipiq(gd, port_put_ipi, msg);
		return;
	}
	crit_enter();
	port_put_local(port, msg);
	crit_exit();
}

/* Asynchronous: the reply will be queued on msg->ms_reply_port. */
void
lwkt_sendmsg(struct lwkt_port *port, struct lwkt_msg *msg)
{
	KASSERT(msg->ms_flags & MSGF_DONE, ("lwkt_sendmsg: message %p is "
	    "already in flight", msg));
	msg->ms_flags &= ~(MSGF_DONE | MSGF_REPLY | MSGF_QUEUED);
	atomic_add_int(&msg->ms_reply_port->mp_replies_due, 1);
	port_put(port, msg);
}

/* Synchronous: send, wait for the reply on our own port, return its error. */
int
lwkt_domsg(struct lwkt_port *port, struct lwkt_msg *msg)
{
	msg->ms_reply_port = &curthread->td_msgport;
	msg->ms_flags |= MSGF_SYNC;
	lwkt_sendmsg(port, msg);
	return lwkt_waitmsg(msg);
}

/* The receiver is done with msg: send it back to its reply port. */
void
lwkt_replymsg(struct lwkt_msg *msg, int error)
{
	msg->ms_error = error;
	msg->ms_flags |= MSGF_REPLY;
	port_put(msg->ms_reply_port, msg);
}

/* Owner: the first queued message, or NULL. */
struct lwkt_msg *
lwkt_getport(struct lwkt_port *port)
{
	struct lwkt_msg *msg;

	crit_enter();
	if ((msg = TAILQ_FIRST(&port->mp_msgq)) != NULL) {
		TAILQ_REMOVE(&port->mp_msgq, msg, ms_link);
		msg->ms_flags &= ~MSGF_QUEUED;
	}
	crit_exit();
	return msg;
}

/* Owner: block until a message is queued, then take it. */
struct lwkt_msg *
lwkt_waitport(struct lwkt_port *port)
{
	struct lwkt_msg *msg;

	KKASSERT(port->mp_td == curthread);
	crit_enter();
	while ((msg = TAILQ_FIRST(&port->mp_msgq)) == NULL) {
		port->mp_flags |= MSGPORTF_WAITING;
		lwkt_deschedule_self();
		lwkt_switch();
	}
	TAILQ_REMOVE(&port->mp_msgq, msg, ms_link);
	msg->ms_flags &= ~MSGF_QUEUED;
	crit_exit();
	return msg;
}

/* Owner of msg's reply port: block until msg is replied to; its error. */
int
lwkt_waitmsg(struct lwkt_msg *msg)
{
	struct lwkt_port *port = msg->ms_reply_port;

	KKASSERT(port->mp_td == curthread);
	crit_enter();
	while ((msg->ms_flags & MSGF_DONE) == 0) {
		port->mp_flags |= MSGPORTF_WAITING;
		lwkt_deschedule_self();
		lwkt_switch();
	}
	if (msg->ms_flags & MSGF_QUEUED) {
		TAILQ_REMOVE(&port->mp_msgq, msg, ms_link);
		msg->ms_flags &= ~MSGF_QUEUED;
	}
	crit_exit();
	return msg->ms_error;
}

static void
port_wait_wake(struct systimer *st __unused, void *td)
{
	lwkt_schedule(td);
}

/*
 * Owner, thread context (lwkt_exit): block until every reply due to the
 * port has been queued on it.  One console line after 1 s; a panic that
 * names the thread after 10 s.
 */
void
lwkt_port_wait_replies(struct lwkt_port *port)
{
	thread_t td = curthread;
	struct systimer st = { .st_queued = false };
	uint64_t t0 = cpu_ticks();
	bool warned = false;

	KKASSERT(port->mp_td == td);
	crit_enter();
	while (port->mp_replies_due != 0) {
		if (!warned && cpu_ticks() - t0 > cpu_tsc_hz) {
			kprintf("lwkt_exit: thread \"%s\" waits for %u "
			    "reply(ies) to its port\n", td->td_comm,
			    port->mp_replies_due);
			warned = true;
		}
		if (cpu_ticks() - t0 > 10 * cpu_tsc_hz)
			panic("lwkt_exit: thread \"%s\" still waits for %u "
			    "reply(ies) after 10 s", td->td_comm,
			    port->mp_replies_due);
		port->mp_flags |= MSGPORTF_WAITING;
		systimer_init_oneshot(&st, port_wait_wake, td, 100000);
		lwkt_deschedule_self();
		lwkt_switch();
		systimer_del(&st);
	}
	port->mp_flags &= ~MSGPORTF_WAITING;
	crit_exit();
}
