/*-------------------------------------------------------------------------
 *
 * sampler.h
 *	  One sample of this node's replication state into the shared ring.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_SAMPLER_H
#define TENSAFE_DR_SAMPLER_H

#include "shared_state.h"

extern void dr_take_sample(DrSample *taken);

#endif							/* TENSAFE_DR_SAMPLER_H */
