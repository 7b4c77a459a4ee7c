//! v2 device control: an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program built from the rules and
//! attached to the cgroup directory, replacing the one attached before.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (access_type = access << 16 | type) and returns 1 to allow, 0 to deny. Rules are checked
//! last-to-first so the last matching rule decides, over a default of deny.

use crate::devices::{Kind, Rule, ACC_ALL};
use crate::error::{io, Result};
use crate::sys::{self, bpf};
use std::os::fd::AsRawFd;
use std::path::Path;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// Opcodes (class | op | source).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// One instruction in the kernel's little-endian `struct bpf_insn` layout.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from((src << 4) | (dst & 0xf)) << 8)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

/// The program's instructions for `rules` (default deny).
pub fn program(rules: &[Rule]) -> Vec<u64> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),      // r2 = access_type
        insn(AND_K, 2, 0, 0, 0xffff), // r2 = type
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16), // r3 = requested access
        insn(LDX_W, 4, 1, 4, 0),  // r4 = major
        insn(LDX_W, 5, 1, 8, 0),  // r5 = minor
    ];
    for r in rules.iter().rev() {
        let mut conds: Vec<[u64; 3]> = Vec::new();
        // Each condition is up to three instructions ending in a jump past the block; the
        // jump offsets are filled in once the block's length is known.
        match r.kind {
            Kind::All => {}
            Kind::Block => conds.push([insn(JNE_K, 2, 0, 0, DEV_BLOCK), 0, 0]),
            Kind::Char => conds.push([insn(JNE_K, 2, 0, 0, DEV_CHAR), 0, 0]),
        }
        if r.access != ACC_ALL {
            // Requested access must be a subset of the rule's: (req & rule) == req.
            conds.push([
                insn(MOV_X, 1, 3, 0, 0),
                insn(AND_K, 1, 0, 0, r.access as i32),
                insn(JNE_X, 1, 3, 0, 0),
            ]);
        }
        if let Some(m) = r.major {
            conds.push([insn(JNE_K, 4, 0, 0, m as i32), 0, 0]);
        }
        if let Some(m) = r.minor {
            conds.push([insn(JNE_K, 5, 0, 0, m as i32), 0, 0]);
        }
        let body: Vec<u64> = conds
            .iter()
            .flat_map(|c| c.iter().copied().filter(|&i| i != 0))
            .collect();
        let total = body.len() + 2; // + mov r0, exit
        for (i, mut ins) in body.into_iter().enumerate() {
            let code = (ins & 0xff) as u8;
            if code == JNE_K || code == JNE_X {
                let off = (total - i - 1) as u16;
                ins = (ins & !(0xffff << 16)) | (u64::from(off) << 16);
            }
            p.push(ins);
        }
        p.push(insn(MOV_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
        if total == 2 {
            // A catch-all rule: everything after it would be unreachable (and the verifier
            // rejects unreachable code).
            return p;
        }
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Loads the program for `rules` and attaches it to the cgroup2 directory `dir`, then detaches
/// whatever device programs were attached there before.
pub fn apply(dir: &Path, rules: &[Rule]) -> Result<()> {
    let insns = program(rules);
    let dfd = sys::open_dir(dir).map_err(|e| io(dir, e))?;
    let old = bpf::query_device_progs(dfd.as_raw_fd()).map_err(|e| io(dir, e))?;
    let prog = bpf::load_device_prog(&insns).map_err(|e| io(dir, e))?;
    bpf::attach_device_prog(dfd.as_raw_fd(), prog.as_raw_fd()).map_err(|e| io(dir, e))?;
    for id in old {
        bpf::detach_device_prog(dfd.as_raw_fd(), id).map_err(|e| io(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{ACC_READ, ACC_WRITE};

    fn code(i: u64) -> u8 {
        (i & 0xff) as u8
    }
    fn off(i: u64) -> i16 {
        ((i >> 16) & 0xffff) as u16 as i16
    }
    fn imm(i: u64) -> i32 {
        (i >> 32) as u32 as i32
    }

    /// Runs the program the way the kernel would, for a device access.
    fn run(p: &[u64], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = (((i >> 8) & 0xf) as usize, ((i >> 12) & 0xf) as usize);
            pc += 1;
            match code(i) {
                LDX_W => r[dst] = u64::from(ctx[off(i) as usize / 4]),
                AND_K => r[dst] &= imm(i) as i64 as u64,
                RSH_K => r[dst] >>= imm(i),
                MOV_K => r[dst] = imm(i) as i64 as u64,
                MOV_X => r[dst] = r[src],
                JNE_K if r[dst] != imm(i) as i64 as u64 => {
                    pc = (pc as i64 + off(i) as i64) as usize
                }
                JNE_X if r[dst] != r[src] => pc = (pc as i64 + off(i) as i64) as usize,
                JNE_K | JNE_X => {}
                EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn rule(allow: bool, kind: Kind, major: Option<u32>, minor: Option<u32>, access: u32) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    #[test]
    fn last_matching_rule_decides_over_default_deny() {
        let rules = [
            rule(false, Kind::All, None, None, ACC_ALL),
            rule(true, Kind::Char, Some(1), Some(3), ACC_ALL),
            rule(true, Kind::Char, Some(1), None, ACC_READ),
            rule(false, Kind::Char, Some(1), Some(9), ACC_ALL),
        ];
        let p = program(&rules);
        let rw = ACC_READ | ACC_WRITE;
        assert_eq!(run(&p, DEV_CHAR as u32, rw, 1, 3), 1, "/dev/null rw");
        assert_eq!(
            run(&p, DEV_CHAR as u32, ACC_READ, 1, 5),
            1,
            "/dev/zero read"
        );
        assert_eq!(run(&p, DEV_CHAR as u32, rw, 1, 5), 0, "/dev/zero write");
        assert_eq!(
            run(&p, DEV_CHAR as u32, ACC_READ, 1, 9),
            0,
            "1:9 denied last"
        );
        assert_eq!(run(&p, DEV_BLOCK as u32, ACC_READ, 1, 3), 0, "block 1:3");
        assert_eq!(run(&p, DEV_CHAR as u32, ACC_READ, 5, 0), 0, "default deny");
        let allow_all = program(&[rule(true, Kind::All, None, None, ACC_ALL)]);
        assert_eq!(run(&allow_all, DEV_BLOCK as u32, ACC_READ, 8, 0), 1);
        assert_eq!(
            allow_all.len(),
            8,
            "no unreachable default after a catch-all"
        );
        assert_eq!(run(&program(&[]), DEV_CHAR as u32, ACC_READ, 1, 3), 0);
    }
}
