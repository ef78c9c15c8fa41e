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
#include "restart.h"
#include "snapshot.h"
#include "transport.h"

int
main(int argc, char *argv[])
{
	const struct sd_transport_ops *tops;
	struct sd_transport tr;
	struct sd_cmdline cl;
	struct fuse_session *se;
	struct shmemfs *fs;
	char msg[512], mountarg[64];
	int ready_fd = -1;
	int handover, adopted = 0;
	int ret = 1;
	int err;

	/* Started by `shmemctl restart` (restart.c): take over, not mount. */
	handover = sd_restart_incoming();

	err = sd_cmdline_parse(&cl, argc, argv);
	if (err != 0) {
		ret = err > 0 ? 0 : 1;
		goto out_free_cmdline;
	}
	sd_snap_protect_oom();
	if (!cl.cl_foreground && handover < 0) {
		ready_fd = sd_daemonize_start();
		if (ready_fd < 0)
			goto out_free_cmdline;
	}

	/* restore=, persist=: the image's mount, else a fresh one. */
	if (handover >= 0)
		err = sd_restart_receive(handover, &fs, &cl, mountarg,
					 sizeof(mountarg), msg, sizeof(msg));
	else
		err = sd_snap_mount(&fs, &cl, msg, sizeof(msg));
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
	if (fuse_session_mount(se, handover >= 0 ? mountarg
						 : cl.cl_mountpoint) != 0)
		goto out_remove_handlers;
	sd_restart_setup(argv, &fs, &cl);
	if (handover < 0) {
		sd_bdi_relax(cl.cl_mountpoint); /* bdi.c: no FUSE write-back cap */
		tops = sd_transport_pick(&cl.cl_transport);
	} else {
		/* A handover: the mount's bdi is set; only /dev/fuse adopts. */
		tops = &sd_transport_fusedev;
	}
	err = sd_transport_start(&tr, tops, se, &cl.cl_transport);
	if (err >= 0 && handover >= 0)
		sd_restart_replay_init(se);
	if (err < 0) {
		fprintf(stderr, "shmemfs: cannot start the %s transport: %s\n",
			tops->to_name, strerror(-err));
		goto out_unmount;
	}

	if (ready_fd >= 0) {
		sd_daemonize_ready(ready_fd);
		ready_fd = -1;
	}
	if (handover >= 0) {
		/* The old daemon exits: the mount is ours to unmount now. */
		if (sd_restart_ready(handover) < 0)
			goto out_stop;
		handover = -1;
		adopted = 1;
	}
	if (chdir("/") < 0) {
		/* Harmless: we never use relative paths from here on. */
	}

	err = sd_transport_run(&tr);
	if (err == SD_TRANSPORT_HANDED_OVER) {
		/*
		 * A new daemon serves the mount: leave it mounted.  libfuse
		 * frees the session's copy of the mount point only when it
		 * unmounts, which it must not, so end with _exit() once our
		 * own state is gone (the mount was destroyed at handover).
		 */
		sd_transport_stop(&tr);
		fuse_remove_signal_handlers(se);
		sd_ops_session_destroy(se);
		sd_cmdline_free(&cl);
		_exit(0);
	}
	/* A positive value is the signal that ended the loop: a clean exit. */
	ret = err < 0 ? 1 : 0;
out_stop:
	sd_transport_stop(&tr);
	/* persist=: the mount as the last request left it. */
	if (fs && handover < 0 && sd_snap_unmount(fs, &cl) < 0)
		ret = 1;
out_unmount:
	/* A failed takeover leaves the mount to the old daemon. */
	if (adopted)
		sd_restart_unmount(se, cl.cl_mountpoint);
	else if (handover < 0)
		fuse_session_unmount(se);
out_remove_handlers:
	fuse_remove_signal_handlers(se);
out_destroy_session:
	sd_ops_session_destroy(se);
out_destroy_fs:
	shmemfs_destroy(fs); /* NULL after a handover */
out_free_cmdline:
	sd_cmdline_free(&cl);
	return ret;
}
