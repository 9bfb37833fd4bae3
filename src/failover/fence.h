/*-------------------------------------------------------------------------
 *
 * fence.h
 *	  Write fencing: stop every write from committing on a node, lift it
 *	  again.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_FENCE_H
#define TENSAFE_DR_FENCE_H

extern void dr_install_fence_hooks(void);
extern bool dr_is_fenced(void);
extern bool dr_fence_file_is_ours(void);
extern Size dr_fence_shmem_size(void);
extern void dr_fence_shmem_init(void);

#endif							/* TENSAFE_DR_FENCE_H */
