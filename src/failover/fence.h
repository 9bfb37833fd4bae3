/*-------------------------------------------------------------------------
 *
 * fence.h
 *	  Write fencing: stop new writes on a node, lift it again.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_FENCE_H
#define TENSAFE_DR_FENCE_H

extern void dr_install_fence_hooks(void);
extern bool dr_is_fenced(void);
extern bool dr_fence_file_is_ours(void);

#endif							/* TENSAFE_DR_FENCE_H */
