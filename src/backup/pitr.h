/*-------------------------------------------------------------------------
 *
 * pitr.h
 *	  Point-in-time recovery planning: the WAL archive side.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_PITR_H
#define TENSAFE_DR_PITR_H

extern const char *dr_wal_archive_dir(void);

#endif							/* TENSAFE_DR_PITR_H */
