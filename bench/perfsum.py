#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/perfsum.py - where a system-wide profile's time went, by kind.

    perf script -F comm,pid,tid,period,ip,sym,dso -i perf.data |
        bench/perfsum.py --daemon PID --workload COMM [--build DIR]

Reads `perf script` output of a `perf record -a -g` and splits the CPU
time of the workload (the processes named COMM, e.g. fio) and of the
shmemfs daemon (all threads of PID) into kinds of work, by the symbol
each sample was taken in (self time):

  kernel FUSE       fuse_* in the kernel (request queueing, fuse_copy_*,
                    the FUSE page cache paths)
  kernel io_uring   io_uring's own code (the ring transport)
  scheduling        schedule, context switches, wake-ups, futexes
  copies            memcpy/memmove, copy_{to,from}_user, rep movs, in
                    the kernel and in libc
  zeroing           clear_page, memset
  kernel mm         page cache, page allocation, pinning user pages
  syscall entry     entry and exit of system calls
  kernel other      the rest of the kernel
  our core          src/core (libshmemfs), by the object files of DIR
  our daemon        src/daemon
  libfuse           libfuse3's request loop and decoder
  libc other        libc outside copies (locks, malloc)
  workload user     the workload's own user code (fio)

A sample taken in a spin lock or an interrupt re-enable primitive
counts for the first caller that is not one (see PRIMITIVE).  It prints
the share of each kind in the workload's and the daemon's
samples and in both together, the CPU seconds, the machine's idle and
other processes' shares (other engineers' builds on a shared machine),
then the top symbols by self time and by inclusive ("children") time
of the workload and the daemon together.  Inclusive time comes from the
call chains; user-space chains stop where frame pointers are missing,
so it is exact for kernel symbols and a lower bound for user ones.
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys

KINDS = ["kernel FUSE", "kernel io_uring", "scheduling", "copies", "zeroing",
         "kernel mm", "syscall entry", "kernel other", "our core",
         "our daemon", "libfuse", "libc other", "workload user", "other user"]

COPY = re.compile(r"^(__pi_|__)?(memcpy|memmove|copy_user|rep_movs|copy_page|"
                  r"_copy_to_iter|_copy_from_iter|copy_to_user|"
                  r"copy_from_user|_copy_to_user|_copy_from_user|copy_mc|"
                  r"__memcpy|__memmove|copyin|copyout|copy_folio)")
ZERO = re.compile(r"^(__)?(clear_page|memset|clear_user|clear_huge_page|"
                  r"folio_zero|zero_user)")
SCHED = re.compile(
    r"(schedule|switch_to|switch_mm|finish_task_switch|pick_next|pick_task|"
    r"enqueue_|dequeue_|wake_up|try_to_wake_up|ttwu|update_curr|load_avg|"
    r"psi_|select_task_rq|set_next_|put_prev|^sched_|futex|prepare_to_wait|"
    r"finish_wait|raw_spin_rq|sched_clock|update_rq_clock|account_|"
    r"resched|preempt|^__?wake|task_tick|update_cfs|reweight|avg_vruntime|"
    r"place_entity|hrtick|native_write_msr|cpuacct|__cgroup_account|"
    r"perf_event_task|__perf_event_task|switch_fpu|restore_fpregs|"
    r"__lll_lock|pthread_mutex|pthread_cond|lll_|__pthread|rwlock|"
    r"do_nanosleep|hrtimer|tick_|timerqueue|cpupri|idle_)")
MM = re.compile(
    r"^(__)?(filemap|folio|page_cache|find_get|find_lock|xas_|xa_|"
    r"alloc_pages|__alloc|get_page_from_freelist|rmqueue|lru|lruvec|"
    r"gup|get_user_pages|pin_user_pages|try_grab|unpin_user|"
    r"mem_cgroup|memcg|mod_|__mod|free_|release_pages|handle_mm_fault|"
    r"do_anonymous|do_fault|do_user_addr_fault|exc_page_fault|"
    r"asm_exc_page_fault|vma_|mas_|mt_|mtree|pte_|pmd_|page_|"
    r"truncate|invalidate|mapping_|shmem|generic_perform_write|"
    r"balance_dirty|node_dirty|set_page|count_memcg|lock_page|"
    r"unlock_page|add_to_page_cache|workingset|zap_|unmap_|"
    r"do_madvise|madvise|tlb_|flush_tlb|native_flush|vm_|mmap|"
    r"percpu_counter|__count|try_charge|charge_memcg|memcg)")
SYSCALL = re.compile(r"^(entry_SYSCALL|syscall_|do_syscall|__x64_sys|"
                     r"__do_sys|ksys_|exit_to_user|syscall_exit|"
                     r"x64_sys_call|__sys_|fdget|__fget|fput|__fdget|"
                     r"vfs_|rw_verify_area|security_|apparmor|"
                     r"fsnotify|__fsnotify|do_iter|iter_|import_|"
                     r"new_sync_|io_schedule|file_|touch_atime|"
                     r"current_time|inode_|__x86_indirect|srso_|"
                     r"entry_|irqentry|clear_bhb|__sb_|sb_|lockref|"
                     r"dput|path_|link_path|lookup_|d_|__d_|down_|up_|"
                     r"mutex_|__mutex|ktime|read_tsc|kmem_|__kmem|"
                     r"kmalloc|__kmalloc|kfree|slab|__slab|___slab)")


# Where a sampled CPU re-enables interrupts (spin_unlock_irqrestore) or
# spins on a lock, the time belongs to whoever took the lock: without a
# PMU (a VM) the timer's sample lands at the re-enable point of a
# section that ran with interrupts off, e.g. a wake-up.
PRIMITIVE = re.compile(r"^(_raw_spin|__raw_spin|_raw_read|_raw_write|"
                       r"queued_spin|__pv_queued|native_queued|"
                       r"do_raw_spin|pv_native_|native_irq|"
                       r"__raw_callee_save|local_irq|arch_local)")


def symbol_owners(build):
    """function name -> 'our core' or 'our daemon', from the objects"""
    owners = {}
    for kind, pat in (("our core", "libshmemfs.a.p/*.o"),
                      ("our daemon", "shmemfs.p/*.o")):
        for obj in glob.glob(os.path.join(build, pat)):
            out = subprocess.run(["nm", "--defined-only", obj],
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                f = line.split()
                if len(f) == 3 and f[1] in "tTwW":
                    owners.setdefault(f[2], kind)
    return owners


def kind_of(sym, dso, owners, is_workload):
    base = sym.split("+")[0]
    if dso == "[vdso]":  # clock_gettime: user time of the caller
        return "workload user" if is_workload else "other user"
    if "kernel" in dso or dso.startswith("[") and dso != "[unknown]":
        if COPY.search(base):
            return "copies"
        if ZERO.search(base):
            return "zeroing"
        if base.startswith(("fuse_", "__fuse", "fuse")):
            return "kernel FUSE"
        if "io_uring" in base or base.startswith(("io_", "__io_", "tctx_")):
            return "kernel io_uring"
        if SCHED.search(base):
            return "scheduling"
        if MM.search(base):
            return "kernel mm"
        if SYSCALL.search(base):
            return "syscall entry"
        return "kernel other"
    name = os.path.basename(dso)
    if base in owners and (name.startswith("shmemfs") or "shmemfs" in dso):
        return owners[base]
    if name.startswith("libc.so") or name.startswith("libc-"):
        if COPY.search(base):
            return "copies"
        if ZERO.search(base):
            return "zeroing"
        if SCHED.search(base):
            return "scheduling"
        return "libc other"
    if name.startswith("libfuse3"):
        return "libfuse"
    if name.startswith("liburing"):
        return "kernel io_uring"
    if "shmemfs" in name:
        return "our daemon"
    return "workload user" if is_workload else "other user"


def samples(stream):
    """(comm, pid, period, [(sym, dso), ...]) per sample"""
    head = None
    frames = []
    hre = re.compile(r"^(.*?)\s+(\d+)/(\d+)\s+(\d+)\s*:?\s*$")
    fre = re.compile(r"^\s+[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$")
    for line in stream:
        if not line.strip():
            if head:
                yield head + (frames,)
            head, frames = None, []
            continue
        if line[0] not in " \t":
            if head:
                yield head + (frames,)
            m = hre.match(line.rstrip("\n"))
            head = (m.group(1).strip(), int(m.group(2)),
                    int(m.group(4))) if m else None
            frames = []
        elif head:
            m = fre.match(line)
            if m:
                frames.append((m.group(1), m.group(2)))
    if head:
        yield head + (frames,)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", type=int, required=True)
    ap.add_argument("--workload", default="fio")
    ap.add_argument("--build", default="build")
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    owners = symbol_owners(a.build)
    total = collections.Counter()       # group -> period
    kinds = collections.defaultdict(collections.Counter)  # group -> kind
    selfsym = collections.Counter()     # (sym, dso) -> period, wl + daemon
    kindsym = collections.defaultdict(collections.Counter)  # kind -> sym
    children = collections.Counter()    # sym -> period, wl + daemon
    for comm, pid, period, frames in samples(sys.stdin):
        if pid == 0:
            total["idle"] += period
            continue
        if pid == a.daemon:
            group = "daemon"
        elif comm == a.workload:
            group = "workload"
        else:
            total["other"] += period
            continue
        total[group] += period
        sym, dso = frames[0] if frames else ("[unknown]", "[unknown]")
        ksym, kdso = sym, dso
        for f in frames:
            if not PRIMITIVE.search(f[0]):
                ksym, kdso = f
                break
        kind = kind_of(ksym, kdso, owners, group == "workload")
        kinds[group][kind] += period
        kindsym[kind][ksym.split("+")[0]] += period
        selfsym[(sym.split("+")[0], os.path.basename(dso), group)] += period
        for s in {f[0].split("+")[0] for f in frames}:
            children[s] += period
    ours = total["workload"] + total["daemon"]
    allp = sum(total.values())
    if not ours:
        print("no samples of the workload or the daemon")
        return 1

    def pct(x, of):
        return 100.0 * x / of if of else 0.0
    print("CPU time (s): workload %.2f, daemon %.2f; of all samples: "
          "workload %.1f%%, daemon %.1f%%, idle %.1f%%, other processes "
          "%.1f%%" % (total["workload"] / 1e9, total["daemon"] / 1e9,
                      pct(total["workload"], allp),
                      pct(total["daemon"], allp), pct(total["idle"], allp),
                      pct(total["other"], allp)))
    print()
    print("self time by kind, % of each column's samples (a sample in a"
          " lock or interrupt-enable primitive counts for its caller)")
    print("%-18s %9s %9s %9s" % ("kind", "workload", "daemon", "both"))
    for k in KINDS:
        w, d = kinds["workload"][k], kinds["daemon"][k]
        if w + d == 0:
            continue
        print("%-18s %8.1f%% %8.1f%% %8.1f%%" % (
            k, pct(w, total["workload"]), pct(d, total["daemon"]),
            pct(w + d, ours)))
    print()
    print("the largest symbols of each kind over 5% (after the lock rule)")
    for k in KINDS:
        p = sum(kindsym[k].values())
        if pct(p, ours) < 5:
            continue
        print("%-18s %s" % (k, ", ".join(
            "%s %.1f%%" % (s, pct(n, ours))
            for s, n in kindsym[k].most_common(4))))
    print()
    print("top symbols, self, % of workload + daemon")
    for (s, dso, g), p in selfsym.most_common(a.top):
        print("%6.1f%%  %-9s %-34s %s" % (pct(p, ours), g, s[:34], dso))
    print()
    print("top symbols, children (inclusive), % of workload + daemon")
    for s, p in children.most_common(a.top + 10):
        print("%6.1f%%  %s" % (pct(p, ours), s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
