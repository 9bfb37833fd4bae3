/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The tensafe_dr background worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_WORKER_H
#define TENSAFE_DR_WORKER_H

extern void dr_register_worker(void);
extern PGDLLEXPORT void dr_worker_main(Datum main_arg);

#endif							/* TENSAFE_DR_WORKER_H */
