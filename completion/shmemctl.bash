# SPDX-License-Identifier: MIT
# bash completion for shmemctl(8); installed as
# $datadir/bash-completion/completions/shmemctl.
#
# Verbs come from `shmemctl --help` (its "Usage:" lines), so verbs added
# to shmemctl complete without a change here; mount points are the
# fuse.shmemfs mounts of /proc/self/mountinfo.

_shmemctl_verbs()
{
	"${1:-shmemctl}" --help 2>/dev/null | awk '
		/^(Usage:)? *[^ ]*shmemctl / {
			sub(/^Usage:/, "")
			n = split($2, v, "|")
			for (i = 1; i <= n; i++)
				if (v[i] !~ /^-/)
					print v[i]
		}'
}

# -o option names of `shmemfs --help` (its own section), "NAME=" for
# those that take a value; shmemfs is looked for beside shmemctl first.
_shmemctl_fs_options()
{
	local fs=shmemfs
	[[ $1 == */* && -x ${1%/*}/shmemfs ]] && fs=${1%/*}/shmemfs
	"$fs" --help 2>/dev/null | awk '
		/^FUSE options:/ { exit }
		{
			while (match($0, /-o [a-z0-9_]+([|][a-z0-9_]+)*=?/)) {
				o = substr($0, RSTART + 3, RLENGTH - 3)
				$0 = substr($0, RSTART + RLENGTH)
				n = split(o, v, "|")
				for (i = 1; i <= n; i++)
					print v[i]
			}
		}'
}

_shmemctl_mounts()
{
	# field 5 is the mount point (octal escapes for blanks), then the
	# optional fields up to "-", then the type
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break
	       if ($(i + 1) == "fuse.shmemfs") print $5 }' \
		/proc/self/mountinfo 2>/dev/null |
		sed 's/\\040/ /g; s/\\011/\t/g; s/\\012/\n/g; s/\\134/\\/g'
}

_shmemctl()
{
	local cur prev words cword
	_init_completion || return

	local verb="${words[1]}"
	if [[ $cword -eq 1 ]]; then
		COMPREPLY=($(compgen -W "$(_shmemctl_verbs "${words[0]}") --help --version" -- "$cur"))
		return
	fi
	case "$cur" in
	-*)
		case "$verb" in
		stats) COMPREPLY=($(compgen -W "--json --prometheus --help" -- "$cur")) ;;
		ipcs | quota) COMPREPLY=($(compgen -W "--json --help" -- "$cur")) ;;
		ipcrm) COMPREPLY=($(compgen -W "-m -M" -- "$cur")) ;;
		save) COMPREPLY=($(compgen -W "--key --help" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "--help" -- "$cur")) ;;
		esac
		return
		;;
	esac
	case "$verb" in
	remount)
		if [[ $cword -eq 3 ]]; then
			# the last item of a comma-separated list
			local head="" item="$cur"
			if [[ $cur == *,* ]]; then
				head="${cur%,*},"
				item="${cur##*,}"
			fi
			COMPREPLY=($(compgen -P "$head" -W "$(_shmemctl_fs_options "${words[0]}")" -- "$item"))
			[[ ${COMPREPLY[0]-} == *= ]] && compopt -o nospace 2>/dev/null
			return
		fi
		;;
	quota)
		case $cword in
		3) COMPREPLY=($(compgen -W "set --json" -- "$cur")) ;;
		4) [[ $prev == set ]] && COMPREPLY=($(compgen -W "user group" -- "$cur")) ;;
		6 | 7)
			COMPREPLY=($(compgen -W "blocks= inodes=" -- "$cur"))
			compopt -o nospace 2>/dev/null
			;;
		esac
		[[ $cword -ge 3 ]] && return
		;;
	huge)
		if [[ $cword -eq 3 ]]; then
			COMPREPLY=($(compgen -W "on off" -- "$cur"))
		else
			_filedir
		fi
		return
		;;
	save | export)
		if [[ $cword -ge 3 ]]; then
			_filedir
			return
		fi
		;;
	esac
	if [[ $prev == --key ]]; then
		_filedir
		return
	fi
	if [[ $cword -eq 2 ]]; then
		local IFS=$'\n'
		COMPREPLY=($(compgen -W "$(_shmemctl_mounts)" -- "$cur"))
		[[ ${#COMPREPLY[@]} -eq 0 ]] && _filedir -d
	fi
} &&
	complete -F _shmemctl shmemctl
