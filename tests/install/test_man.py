# SPDX-License-Identifier: MIT
"""The man pages under man/: they render without a warning (`man
--warnings`, as lintian checks them), and they keep step with the
programs: every -o option of `shmemfs --help` has an entry in
shmemfs(8), every verb of `shmemctl --help` one in shmemctl(8), and an
entry the program does not have yet says "(not yet available)"."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, REPO

MAN = os.path.join(REPO, "man")
PAGES = ["shmemfs.8", "shmemctl.8", "shmemfs-shm.1", "libshmemfs.3"]
NOT_YET = "(not yet available)"


def roff_text(s):
    """Plain text of a roff fragment: font escapes and quotes gone."""
    s = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\\(dq", "", s)
    return s.replace("\\-", "-").replace('"', "")


def man_entries(page, section):
    """{name: paragraph} of the .TP entries of the (sub)section @section
    of man/@page; the name is the first word of the tag line up to '='
    (`.BI size= N` gives size, `.B swapon` gives swapon)."""
    lines = open(os.path.join(MAN, page)).read().splitlines()
    out, name, in_sec = {}, None, False
    for i, line in enumerate(lines):
        if line.startswith((".SH", ".SS")):
            in_sec = line.split(None, 1)[1].strip('"') in section
            name = None
            continue
        if not in_sec:
            continue
        if line == ".TP" and i + 1 < len(lines):
            tag = roff_text(lines[i + 1].split(None, 1)[1])
            name = re.match(r"[-\w]+", tag.strip()).group(0)
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def help_text(prog):
    path = os.path.join(BUILD, prog)
    if not os.access(path, os.X_OK):
        pytest.skip("%s is not built" % path)
    r = subprocess.run([path, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def help_options():
    """-o names of `shmemfs --help`, from its own section (before the
    "FUSE options:" libfuse prints).  "-o uring|nouring" gives both."""
    text = help_text("shmemfs").split("FUSE options:")[0]
    names = set()
    for m in re.finditer(r"-o ([a-z0-9_]+(?:[|/][a-z0-9_]+)*)"
                         r"(?=[\s=,\[]|$)", text):
        names.update(re.split(r"[|/]", m.group(1)))
    assert names, "no -o options found in shmemfs --help"
    return names


def help_verbs():
    """Verbs of the usage lines of `shmemctl --help`
    ("shmemctl VERB[|VERB] ...")."""
    verbs = set()
    for line in help_text("shmemctl").splitlines():
        m = re.match(r"\s*(?:Usage:\s*)?\S*shmemctl\s+(\S+)", line)
        if m:
            verbs.update(v for v in m.group(1).split("|")
                         if not v.startswith("-"))
    assert verbs, "no verbs found in shmemctl --help"
    return verbs


def check_in_step(what, prog, have, entries, page, where, how):
    """What the program has and the page documents must agree."""
    problems = []
    for n in sorted(have - set(entries)):
        problems.append(
            "%s --help lists %s %s but man/%s does not: add an entry under "
            "%s, i.e. the lines '.TP' and %s followed by a paragraph "
            "saying what it does" % (prog, what, n, page, where,
                                     how.format(n=n)))
    for n in sorted(have & set(entries)):
        if NOT_YET in entries[n]:
            problems.append(
                "%s %s is available now (%s --help lists it) but man/%s "
                "still says %r: remove those words from its entry" %
                (what, n, prog, page, NOT_YET))
    for n in sorted(set(entries) - have):
        if NOT_YET not in entries[n]:
            problems.append(
                "man/%s documents %s %s, which %s --help does not list: "
                "add it to the --help text, or end its entry with %r if "
                "it is not built yet" % (page, what, n, prog, NOT_YET))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES)
def test_renders_without_warnings(page):
    if not shutil.which("man"):
        pytest.skip("man-db is not installed")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l",
                        os.path.join(MAN, page)],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANWIDTH="80", MAN_KEEP_STDERR="1"))
    assert r.returncode == 0
    assert r.stderr == "", "man --warnings on man/%s:\n%s" % (page, r.stderr)
    assert "NAME" in r.stdout and "SEE ALSO" in r.stdout


def test_warnings_are_caught(tmp_path):
    """The check above can fail: a page with an unknown macro warns."""
    if not shutil.which("man"):
        pytest.skip("man-db is not installed")
    bad = tmp_path / "bad.8"
    bad.write_text(".TH BAD 8\n.SH NAME\nbad\n.XX oops\n")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert "warning" in r.stderr


def test_shmemfs_options_in_step():
    entries = {}
    for sec in ("tmpfs options", "shmemfs options"):
        entries.update(man_entries("shmemfs.8", (sec,)))
    check_in_step("option", "shmemfs", help_options(), entries,
                  "shmemfs.8",
                  '.SS "tmpfs options" (tmpfs\'s names) or .SS "shmemfs '
                  'options" (ours alone)',
                  "'.B {n}' (or '.BI {n}= VALUE')")


def test_tmpfs_options_first():
    """shmemfs(8) lists tmpfs's options before those of shmemfs."""
    text = open(os.path.join(MAN, "shmemfs.8")).read()
    assert text.index('.SS "tmpfs options"') < \
        text.index('.SS "shmemfs options"')
    assert "DIFFERENCES FROM TMPFS" in text


def test_shmemctl_verbs_in_step():
    check_in_step("verb", "shmemctl", help_verbs(),
                  man_entries("shmemctl.8", ("COMMANDS",)), "shmemctl.8",
                  ".SH COMMANDS", "'.BI \"{n} \" ARGS' (or '.B {n}')")


def test_shmemctl_design_verbs_documented():
    """Every verb of DESIGN.md's shmemctl section has an entry."""
    entries = man_entries("shmemctl.8", ("COMMANDS",))
    for v in ("stats", "swapoff", "swapon", "remount", "huge", "ipcs",
              "ipcrm", "quota", "save", "export", "restart"):
        assert v in entries, "man/shmemctl.8 lacks verb " + v


def test_parsers_see_everything():
    """The parsers find what is there, so the comparisons can fail."""
    opts = help_options()
    assert {"size", "nr_inodes", "mem", "swap", "noswap"} <= opts
    assert {"stats", "swapoff", "swapon"} <= help_verbs()
    entries = man_entries("shmemfs.8", ("tmpfs options",))
    assert "size" in entries and "huge" in entries
    assert "ramfs" in man_entries("shmemfs.8", ("shmemfs options",))
