/* SPDX-License-Identifier: MIT */
/*
 * node.h - inode life cycle and the inode table (node.c): creation,
 * lookup by number, attributes, and freeing when the last reference
 * goes (see inode.h for the three counts that keep an inode alive).
 *
 * => Must be called with sf_lock held: exclusive, or local for
 * node_alloc(), node_publish(), node_get() and node_put(), which take
 * sf_tables themselves for the table and the counters (lock.h).
 * Invariant: sm_inodes_used == entries in sf_inodes.
 */
#ifndef SHMEMFS_NODE_H
#define SHMEMFS_NODE_H

#include "core.h"
#include "inode.h"

int node_new(struct shmemfs *fs, mode_t mode, uid_t uid, gid_t gid,
	     dev_t rdev, struct shmemfs_inode **ipp);
int node_alloc(struct shmemfs *fs, mode_t mode, uid_t uid, gid_t gid,
	       dev_t rdev, struct shmemfs_inode **ipp);
void node_publish(struct shmemfs *fs, struct shmemfs_inode *ip);
void node_put(struct shmemfs *fs, struct shmemfs_inode *ip);
void node_free_contents(struct shmemfs *fs, struct shmemfs_inode *ip);
struct shmemfs_inode *node_get(struct shmemfs *fs, uint64_t ino);
struct shmemfs_inode *node_next(struct shmemfs *fs, uint64_t *inop);
void node_fill_attr(const struct shmemfs_inode *ip, struct shmemfs_attr *out);
void node_fill_attr_fs(const struct shmemfs *fs,
		       const struct shmemfs_inode *ip,
		       struct shmemfs_attr *out);
int node_setattr(struct shmemfs *fs, struct shmemfs_inode *ip, unsigned valid,
		 const struct shmemfs_setattr *sa);
void node_touch_atime(struct shmemfs_inode *ip);
int node_setflags(struct shmemfs_inode *ip, unsigned flags);
int node_may_open(const struct shmemfs_inode *ip, int oflags);
struct timespec node_time(const struct shmemfs_inode *ip, const sf_time_t *t);
int node_set_time(struct shmemfs_inode *ip, sf_time_t *t,
		  const struct timespec *ts);

#endif /* SHMEMFS_NODE_H */
