/* SPDX-License-Identifier: MIT */
/*
 * transport.c - the transport interface, and its /dev/fuse implementation.
 *
 * sd_transport_start/run/stop are the thin wrappers main.c calls
 * (transport.h says what each step promises); fusedev, below them, is
 * libfuse's own loop over /dev/fuse: one thread (-s) or a pool that
 * libfuse grows and shrinks between tc_max_idle_threads and
 * tc_max_threads, each thread reading a request, calling ops.c and
 * writing the reply.  Its state is the loop configuration.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "restart.h"
#include "transport.h"

int
sd_transport_start(struct sd_transport *tr, const struct sd_transport_ops *ops,
		   struct fuse_session *se,
		   const struct sd_transport_config *config)
{
	memset(tr, 0, sizeof(*tr));
	tr->tr_ops = ops;
	tr->tr_session = se;
	tr->tr_config = *config;
	return ops->to_start(tr);
}

int
sd_transport_run(struct sd_transport *tr)
{
	return tr->tr_ops->to_run(tr);
}

void
sd_transport_stop(struct sd_transport *tr)
{
	tr->tr_ops->to_stop(tr);
	tr->tr_private = NULL;
}

/* ---- fusedev: libfuse's loop over /dev/fuse ----------------------- */

static int
transport_fusedev_start(struct sd_transport *tr)
{
	const struct sd_transport_config *tc = &tr->tr_config;
	struct fuse_loop_config *config;

	if (tc->tc_singlethread)
		return 0;
	config = fuse_loop_cfg_create();
	if (!config)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(config, tc->tc_clone_fd);
	fuse_loop_cfg_set_max_threads(config, tc->tc_max_threads);
	if (tc->tc_max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(config, tc->tc_max_idle_threads);
	tr->tr_private = config;
	return 0;
}

/*
 * restart.c's loop rather than libfuse's: a fixed pool (one thread with
 * -s, else tc_max_threads) that can stop between two requests, which a
 * live restart needs (libfuse's loops drop a request a worker has read
 * when the session exits).  clone_fd and the idle-thread limit are not
 * used by it.
 */
static int
transport_fusedev_run(struct sd_transport *tr)
{
	return sd_fusedev_loop(tr);
}

static void
transport_fusedev_stop(struct sd_transport *tr)
{
	if (tr->tr_private)
		fuse_loop_cfg_destroy(tr->tr_private);
}

const struct sd_transport_ops sd_transport_fusedev = {
	.to_name = "fusedev",
	.to_start = transport_fusedev_start,
	.to_run = transport_fusedev_run,
	.to_stop = transport_fusedev_stop,
};
