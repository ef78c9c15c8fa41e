# SPDX-License-Identifier: MIT
"""Shared settings of the install and packaging tests.

  SHMEMFS_BUILD   the meson build directory to install from (default: the
                  directory of $SHMEMFS_BIN, else <repo>/build)
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("SHMEMFS_BUILD") or (
    os.path.dirname(os.environ["SHMEMFS_BIN"])
    if os.environ.get("SHMEMFS_BIN") else os.path.join(REPO, "build"))
