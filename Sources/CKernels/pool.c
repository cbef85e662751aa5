// A fixed set of worker threads that run one task at a time, split by index (ith of nth) like
// ggml's compute threads. The caller is worker 0, so a one-thread pool starts no thread at all.
// Workers spin briefly after a task (the next layer usually follows within microseconds) and
// then sleep on a condition variable, so an idle engine costs no CPU.
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PG_PAUSE() _mm_pause()
#else
#define PG_PAUSE() ((void)0)
#endif

enum { PG_SPIN_ITERATIONS = 4000 };

struct pg_pool {
    int nthreads;
    pthread_t *threads;
    pthread_mutex_t run_lock;   // serializes callers; never taken inside a task
    pthread_mutex_t wake_lock;  // guards sleeping on `wake`
    pthread_cond_t wake;
    pthread_cond_t done;        // the caller sleeps on it (under wake_lock) once spinning is over
    _Atomic int caller_sleeping;
    _Atomic unsigned generation;
    _Atomic int pending;
    _Atomic int stop;
    pg_task_fn fn;
    void *ctx;
    int nth;
};

typedef struct {
    pg_pool *pool;
    int ith;
} pg_worker_arg;

static void *pg_worker_main(void *raw) {
    pg_worker_arg arg = *(pg_worker_arg *)raw;
    free(raw);
    pg_pool *p = arg.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               spins < PG_SPIN_ITERATIONS) {
            PG_PAUSE();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->wake_lock);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->wake, &p->wake_lock);
            pthread_mutex_unlock(&p->wake_lock);
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        if (arg.ith < p->nth) p->fn(p->ctx, arg.ith, p->nth);
        // seq_cst pairs with the caller's store of caller_sleeping / load of pending: either the
        // caller sees pending == 0 or this worker sees the caller asleep and wakes it.
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_seq_cst) == 1 &&
            atomic_load_explicit(&p->caller_sleeping, memory_order_seq_cst)) {
            pthread_mutex_lock(&p->wake_lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->wake_lock);
        }
    }
    return NULL;
}

pg_pool *pg_pool_create(int nthreads) {
    if (nthreads < 1) nthreads = 1;
    pg_pool *p = calloc(1, sizeof(pg_pool));
    if (!p) return NULL;
    p->nthreads = nthreads;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->wake_lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    p->threads = calloc((size_t)nthreads, sizeof(pthread_t));
    for (int i = 1; i < nthreads; i++) {
        pg_worker_arg *arg = malloc(sizeof(pg_worker_arg));
        arg->pool = p;
        arg->ith = i;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        // Kernels keep their scratch on the heap; 8 MiB stacks are not needed per worker.
        pthread_attr_setstacksize(&attr, 1 << 20);
        pthread_create(&p->threads[i], &attr, pg_worker_main, arg);
        pthread_attr_destroy(&attr);
    }
    return p;
}

int pg_pool_threads(const pg_pool *p) { return p->nthreads; }

static void pg_pool_publish(pg_pool *p) {
    pthread_mutex_lock(&p->wake_lock);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->wake_lock);
}

// Spins briefly (the other parts usually finish within microseconds of the caller's), then
// sleeps: on a machine with more runnable threads than cores, a spinning caller would take CPU
// from the very worker it waits for.
static void pg_pool_wait_workers(pg_pool *p) {
    for (int spins = 0; spins < PG_SPIN_ITERATIONS; spins++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        PG_PAUSE();
    }
    pthread_mutex_lock(&p->wake_lock);
    atomic_store_explicit(&p->caller_sleeping, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&p->pending, memory_order_seq_cst) != 0)
        pthread_cond_wait(&p->done, &p->wake_lock);
    atomic_store_explicit(&p->caller_sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&p->wake_lock);
}

void pg_pool_run(pg_pool *p, pg_task_fn fn, void *ctx, int nth) {
    if (nth < 1) return;
    if (nth > p->nthreads) nth = p->nthreads;
    if (nth == 1 || p->nthreads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    p->fn = fn;
    p->ctx = ctx;
    p->nth = nth;
    atomic_store_explicit(&p->pending, p->nthreads - 1, memory_order_release);
    pg_pool_publish(p);
    fn(ctx, 0, nth);
    pg_pool_wait_workers(p);
    pthread_mutex_unlock(&p->run_lock);
}

void pg_pool_destroy(pg_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->run_lock);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    atomic_store_explicit(&p->pending, p->nthreads - 1, memory_order_release);
    pg_pool_publish(p);
    for (int i = 1; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_unlock(&p->run_lock);
    pthread_mutex_destroy(&p->run_lock);
    pthread_mutex_destroy(&p->wake_lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}
