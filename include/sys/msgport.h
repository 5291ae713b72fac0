/*
 * LWKT message ports (LWKT-SPEC §10).  A port belongs to a thread (its
 * owner reads it); messages are queued on it by any thread on any CPU —
 * a message for a port on another CPU is carried there by an IPIQ message
 * and queued by that CPU.  Every thread has a reply port, td_msgport.
 * lwkt_sendmsg() is asynchronous (the reply comes back to the message's
 * ms_reply_port); lwkt_domsg() sends and waits for the reply.  The port's
 * queue is touched only on its owner's CPU, inside a critical section.
 *
 * mp_replies_due counts the messages sent with the port as their reply
 * port whose reply has not been queued on it yet (added by the sender on
 * any CPU, subtracted on the owner's CPU, atomically).  A thread does not
 * finish lwkt_exit() while its td_msgport has replies due, so a late reply
 * never reaches a port whose struct thread has been reused.  The owner of
 * any other port must likewise keep it until its replies are in.
 */
#ifndef _SYS_MSGPORT_H_
#define _SYS_MSGPORT_H_

#include <sys/types.h>
#include <sys/queue.h>

struct thread;
struct lwkt_port;

#define MSGF_DONE	0x0001		/* replied to */
#define MSGF_REPLY	0x0002		/* on its reply port */
#define MSGF_QUEUED	0x0004		/* on some port's queue */
#define MSGF_SYNC	0x0008		/* a lwkt_domsg(): the sender waits */
#define MSGF_NORESCHED	0x0010		/* queue without rescheduling the receiver now */

struct lwkt_msg {
	TAILQ_ENTRY(lwkt_msg) ms_link;
	struct lwkt_port *ms_target;	/* port it is being queued on */
	struct lwkt_port *ms_reply_port;
	volatile uint32_t ms_flags;
	int		ms_cmd;
	int		ms_error;
	void		*ms_data;
	uintptr_t	ms_arg;
};

struct lwkt_port {
	TAILQ_HEAD(, lwkt_msg) mp_msgq;
	struct thread	*mp_td;		/* owner */
	uint32_t	mp_flags;
	volatile uint32_t mp_replies_due; /* sent with this reply port, not back */
};
#define MSGPORTF_WAITING	0x0001	/* owner is blocked in waitport/waitmsg */

void	lwkt_initport(struct lwkt_port *port, struct thread *td);
void	lwkt_initmsg(struct lwkt_msg *msg, struct lwkt_port *reply_port, int cmd);
void	lwkt_sendmsg(struct lwkt_port *port, struct lwkt_msg *msg);
int	lwkt_domsg(struct lwkt_port *port, struct lwkt_msg *msg);
void	lwkt_replymsg(struct lwkt_msg *msg, int error);
struct lwkt_msg *lwkt_getport(struct lwkt_port *port);
struct lwkt_msg *lwkt_waitport(struct lwkt_port *port);
int	lwkt_waitmsg(struct lwkt_msg *msg);
void	lwkt_port_wait_replies(struct lwkt_port *port);

#endif
