/*-------------------------------------------------------------------------
 *
 * archiver.h
 *	  The WAL archive's exposure (runbook Level 4): how old the newest WAL
 *	  safely archived by this node is, and whether archiving fails.  See
 *	  archiver.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_ARCHIVER_H
#define TENSAFE_DR_ARCHIVER_H

#include "lag.h"
#include "node_state.h"
#include "shared_state.h"

typedef enum DrArchiveStateKind
{
	DR_ARCHIVE_OFF = 0,			/* no archive (archive_mode = off, primary) */
	DR_ARCHIVE_UNKNOWN,			/* not known from this node */
	DR_ARCHIVE_OK,
	DR_ARCHIVE_WARNING,
	DR_ARCHIVE_BREACH,
	DR_ARCHIVE_FAILING			/* the archiver's last attempt failed */
} DrArchiveStateKind;

typedef struct DrArchiveFigures
{
	bool		archiving;		/* this node's archiver runs */
	bool		failing;
	TimeOffset	lag;			/* DR_LAG_UNKNOWN if unknown */
	DrArchiveStateKind state;
	char		reason[200];
	DrArchiveState seen;		/* the worker's last reading */
} DrArchiveFigures;

extern void dr_archive_sample(void);
extern void dr_archive_figures(const DrNodeState *st, DrArchiveFigures *out);
extern const char *dr_archive_state_name(DrArchiveStateKind state);
extern void dr_archive_track(void);

#endif							/* TENSAFE_DR_ARCHIVER_H */
