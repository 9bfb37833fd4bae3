/*-------------------------------------------------------------------------
 *
 * dump_archive.h
 *	  dr_dump_inspect(): a custom-format pg_dump archive under
 *	  tensafe_dr.backup_root read, checked and hashed (dump_archive.c),
 *	  and tensafe_dr.max_dump_toc_size.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_DUMP_ARCHIVE_H
#define TENSAFE_DR_DUMP_ARCHIVE_H

extern int	dr_max_dump_toc_size_kb;

extern void dr_define_dump_gucs(void);

#endif							/* TENSAFE_DR_DUMP_ARCHIVE_H */
