#!/usr/bin/env bash
# elf-arch.sh FILE: prints the Go architecture FILE's ELF header names (amd64 or arm64), from
# the header itself (e_ident and e_machine, elf(5)) rather than from a name or the Go build
# info. Fails for a file that is not a 64-bit little-endian ELF file of either machine.
set -euo pipefail

fail() {
	echo "elf-arch: $*" >&2
	exit 1
}

(($# == 1)) || fail "usage: elf-arch.sh FILE"
# The first 20 bytes: e_ident (16), e_type (2), e_machine (2).
read -ra b <<<"$(od -An -tu1 -N20 -v "$1" | tr -s "\n" " ")"
((${#b[@]} == 20)) || fail "$1: shorter than an ELF header"
((b[0] == 0x7f && b[1] == 0x45 && b[2] == 0x4c && b[3] == 0x46)) || fail "$1: not an ELF file"
((b[4] == 2)) || fail "$1: not a 64-bit ELF file (EI_CLASS ${b[4]})"
((b[5] == 1)) || fail "$1: not little-endian (EI_DATA ${b[5]})"
machine=$((b[18] | b[19] << 8))
case $machine in
62) echo amd64 ;;  # EM_X86_64
183) echo arm64 ;; # EM_AARCH64
*) fail "$1: ELF machine $machine is neither x86-64 (62) nor AArch64 (183)" ;;
esac
