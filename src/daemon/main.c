/* SPDX-License-Identifier: MIT */
/*
 * main.c - shmemfs, the FUSE daemon: the wiring.
 *
 * Parse the command line (cmdline.c), fork while errors can still reach
 * the terminal (daemonize.c), build the filesystem (libshmemfs), create
 * the FUSE session that answers with the operations (ops.c), mount it,
 * start the transport (transport.c), detach, and serve until unmount or
 * SIGTERM.  Everything that can fail comes before detaching; teardown
 * runs in the reverse order, each label named for what it undoes.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"
#include "daemon.h"
#include "transport.h"

int
main(int argc, char *argv[])
{
	const struct sd_transport_ops *tops;
	struct sd_transport tr;
	struct sd_cmdline cl;
	struct fuse_session *se;
	struct shmemfs *fs;
	char msg[512];
	int ready_fd = -1;
	int ret = 1;
	int err;

	err = sd_cmdline_parse(&cl, argc, argv);
	if (err != 0) {
		ret = err > 0 ? 0 : 1;
		goto out_free_cmdline;
	}
	if (!cl.cl_foreground) {
		ready_fd = sd_daemonize_start();
		if (ready_fd < 0)
			goto out_free_cmdline;
	}

	err = shmemfs_mount(&fs, &cl.cl_opts, msg, sizeof(msg));
	if (err < 0) {
		fprintf(stderr, "shmemfs: %s\n", msg);
		goto out_free_cmdline;
	}
	/* tmpfs fstab lines mount; say once that the policy does nothing. */
	if (cl.cl_opts.so_mpol)
		fprintf(stderr,
			"shmemfs: warning: mpol= ignored: pages are "
			"placed by the daemon's own memory policy (run it "
			"under numactl to choose one)\n");
	se = sd_ops_session_new(&cl.cl_args, fs);
	if (!se)
		goto out_destroy_fs; /* libfuse said why */
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy_session;
	if (fuse_session_mount(se, cl.cl_mountpoint) != 0)
		goto out_remove_handlers;
	sd_bdi_relax(cl.cl_mountpoint); /* bdi.c: no FUSE write-back cap */
	tops = sd_transport_pick(&cl.cl_transport);
	err = sd_transport_start(&tr, tops, se, &cl.cl_transport);
	if (err < 0) {
		fprintf(stderr, "shmemfs: cannot start the %s transport: %s\n",
			tops->to_name, strerror(-err));
		goto out_unmount;
	}

	if (ready_fd >= 0) {
		sd_daemonize_ready(ready_fd);
		ready_fd = -1;
	}
	if (chdir("/") < 0) {
		/* Harmless: we never use relative paths from here on. */
	}

	err = sd_transport_run(&tr);
	/* A positive value is the signal that ended the loop: a clean exit. */
	ret = err < 0 ? 1 : 0;
	sd_transport_stop(&tr);
out_unmount:
	fuse_session_unmount(se);
out_remove_handlers:
	fuse_remove_signal_handlers(se);
out_destroy_session:
	sd_ops_session_destroy(se);
out_destroy_fs:
	shmemfs_destroy(fs);
out_free_cmdline:
	sd_cmdline_free(&cl);
	return ret;
}
