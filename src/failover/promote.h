/*-------------------------------------------------------------------------
 *
 * promote.h
 *	  The promotion gate and the failback waits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_PROMOTE_H
#define TENSAFE_DR_PROMOTE_H

extern int	dr_promote_gate_s(void);

#endif							/* TENSAFE_DR_PROMOTE_H */
