/*
 * Kernel heap: power-of-two buckets from 16 to 2048 bytes carved out of
 * pages, and whole-page runs above that.  Each block carries an 8-byte
 * header naming its bucket (or page count) and a magic word that catches
 * double frees and stray pointers.  One spinlock guards the free lists and
 * the statistics; pages come from and go back to vm_page.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/malloc.h>
#include <sys/vm_page.h>
#include <sys/spinlock2.h>

#define KM_MINSHIFT	4		/* 16 bytes */
#define KM_MAXSHIFT	11		/* 2048 bytes */
#define KM_NBUCKETS	(KM_MAXSHIFT - KM_MINSHIFT + 1)
#define KM_MAGIC_LIVE	0x4B4D414Cu	/* "KMAL" */
#define KM_MAGIC_FREE	0x4B465245u	/* "KFRE" */
#define KM_LARGE	0xFFFFu		/* hdr_bucket for page runs */

struct km_hdr {
	uint32_t	hdr_magic;
	uint16_t	hdr_bucket;	/* index, or KM_LARGE */
	uint16_t	hdr_npages;	/* for KM_LARGE */
};
_Static_assert(sizeof(struct km_hdr) == 8, "keeps blocks 8-byte aligned");

struct km_free {
	struct km_hdr	hdr;
	struct km_free	*next;
};

static struct km_free *km_buckets[KM_NBUCKETS];
static struct kmalloc_stats km_stats;
static struct spinlock km_lock = SPINLOCK_INITIALIZER("kmalloc");

static int
size_to_bucket(size_t total)
{
	int b = 0;

	while (((size_t)1 << (b + KM_MINSHIFT)) < total)
		b++;
	return b;
}

/* Called with km_lock held; returns false if no page was available. */
static bool
bucket_refill(int b)
{
	size_t bsize = (size_t)1 << (b + KM_MINSHIFT);
	uint8_t *page = vm_page_alloc(1);
	size_t off;

	if (page == NULL)
		return false;
	for (off = 0; off + bsize <= PAGE_SIZE; off += bsize) {
		struct km_free *f = (struct km_free *)(page + off);

		f->hdr.hdr_magic = KM_MAGIC_FREE;
		f->hdr.hdr_bucket = (uint16_t)b;
		f->next = km_buckets[b];
		km_buckets[b] = f;
	}
	return true;
}

void *
kmalloc(size_t size)
{
	size_t total = size + sizeof(struct km_hdr);
	struct km_hdr *h;
	int b;

	if (size == 0 || size > VM_PAGE_MAX_PA / 2)
		return NULL;
	if (total > ((size_t)1 << KM_MAXSHIFT)) {
		uint32_t npages = howmany(total, PAGE_SIZE);

		if (npages > 0xFFFF || (h = vm_page_alloc(npages)) == NULL) {
			spin_lock(&km_lock);
			km_stats.ks_failures++;
			spin_unlock(&km_lock);
			return NULL;
		}
		h->hdr_magic = KM_MAGIC_LIVE;
		h->hdr_bucket = KM_LARGE;
		h->hdr_npages = (uint16_t)npages;
		spin_lock(&km_lock);
		km_stats.ks_inuse_bytes += npages * PAGE_SIZE;
		km_stats.ks_inuse_count++;
		spin_unlock(&km_lock);
		return h + 1;
	}

	b = size_to_bucket(total);
	spin_lock(&km_lock);
	if (km_buckets[b] == NULL && !bucket_refill(b)) {
		km_stats.ks_failures++;
		spin_unlock(&km_lock);
		return NULL;
	}
	h = &km_buckets[b]->hdr;
	km_buckets[b] = km_buckets[b]->next;
	KASSERT(h->hdr_magic == KM_MAGIC_FREE,
	    ("kmalloc: free list of bucket %d corrupted at %p", b, h));
	h->hdr_magic = KM_MAGIC_LIVE;
	km_stats.ks_inuse_bytes += (uint32_t)1 << (b + KM_MINSHIFT);
	km_stats.ks_inuse_count++;
	spin_unlock(&km_lock);
	return h + 1;
}

void *
kzalloc(size_t size)
{
	void *p = kmalloc(size);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void
kfree(void *p)
{
	struct km_hdr *h;
	struct km_free *f;

	if (p == NULL)
		return;
	h = (struct km_hdr *)p - 1;
	KASSERT(h->hdr_magic == KM_MAGIC_LIVE,
	    ("kfree: %p is not a live allocation (magic 0x%x)", p, h->hdr_magic));
	if (h->hdr_bucket == KM_LARGE) {
		uint32_t npages = h->hdr_npages;

		h->hdr_magic = KM_MAGIC_FREE;
		spin_lock(&km_lock);
		km_stats.ks_inuse_bytes -= npages * PAGE_SIZE;
		km_stats.ks_inuse_count--;
		spin_unlock(&km_lock);
		vm_page_free(h, npages);
		return;
	}
	KKASSERT(h->hdr_bucket < KM_NBUCKETS);
	f = (struct km_free *)h;
	spin_lock(&km_lock);
	f->hdr.hdr_magic = KM_MAGIC_FREE;
	f->next = km_buckets[h->hdr_bucket];
	km_buckets[h->hdr_bucket] = f;
	km_stats.ks_inuse_bytes -= (uint32_t)1 << (h->hdr_bucket + KM_MINSHIFT);
	km_stats.ks_inuse_count--;
	spin_unlock(&km_lock);
}

void
kmalloc_stats(struct kmalloc_stats *ks)
{
	spin_lock(&km_lock);
	*ks = km_stats;
	spin_unlock(&km_lock);
}
