/*-------------------------------------------------------------------------
 *
 * standbys.h
 *	  The primary's memory of its standbys (dr_standbys): the worker's
 *	  per-sample look.  See standbys.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_STANDBYS_H
#define TENSAFE_DR_STANDBYS_H

extern void dr_standbys_pass(void);
extern void dr_standbys_persist(const char *schema);

#endif							/* TENSAFE_DR_STANDBYS_H */
