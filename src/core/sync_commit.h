/*-------------------------------------------------------------------------
 *
 * sync_commit.h
 *	  DR records commit without waiting for a synchronous standby.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_SYNC_COMMIT_H
#define TENSAFE_DR_SYNC_COMMIT_H

extern void dr_commit_locally(void);

#endif							/* TENSAFE_DR_SYNC_COMMIT_H */
