//! A tiny classic-BPF assembler with forward labels, just enough for seccomp filters.
//!
//! Conditional jumps in classic BPF reach at most 255 instructions ahead, so the compiler only
//! uses them for short, local hops and takes `ja` (32-bit offset) for everything far; `finish`
//! checks every offset instead of trusting that discipline.

use libc::{
    sock_filter, BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_K,
    BPF_LD, BPF_RET, BPF_W,
};

/// A position in the program, bound once with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The next instruction.
    Next,
    /// A bound (or later bound) label.
    To(Label),
}

/// Conditional jump kinds of classic BPF (all compare the accumulator with a constant).
#[derive(Clone, Copy, Debug)]
pub enum Cond {
    /// A == k
    Eq,
    /// A > k (unsigned)
    Gt,
    /// A >= k (unsigned)
    Ge,
}

#[derive(Clone, Copy, Debug)]
enum Insn {
    Plain(sock_filter),
    Ja(Label),
    Jmp {
        cond: Cond,
        k: u32,
        jt: Target,
        jf: Target,
    },
}

/// Error from [`Asm::finish`]: a jump that classic BPF cannot encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpTooFar {
    /// Index of the offending instruction.
    pub at: usize,
}

/// Program under construction.
#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

impl Asm {
    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` to the next instruction emitted.
    pub fn bind(&mut self, l: Label) {
        debug_assert!(self.labels[l.0].is_none(), "label bound twice");
        self.labels[l.0] = Some(self.insns.len());
    }

    /// A = 32-bit word at byte `off` of `struct seccomp_data`.
    pub fn load(&mut self, off: u32) {
        self.insns
            .push(Insn::Plain(stmt(BPF_LD | BPF_W | BPF_ABS, off)));
    }

    /// A &= k
    pub fn and(&mut self, k: u32) {
        self.insns
            .push(Insn::Plain(stmt(BPF_ALU | BPF_AND | BPF_K, k)));
    }

    /// return k
    pub fn ret(&mut self, k: u32) {
        self.insns.push(Insn::Plain(stmt(BPF_RET | BPF_K, k)));
    }

    /// Unconditional jump, any distance forward.
    pub fn ja(&mut self, to: Label) {
        self.insns.push(Insn::Ja(to));
    }

    /// `if A <cond> k goto jt else goto jf`; both targets must be within 255 instructions.
    pub fn jmp(&mut self, cond: Cond, k: u32, jt: Target, jf: Target) {
        self.insns.push(Insn::Jmp { cond, k, jt, jf });
    }

    /// Number of instructions emitted so far.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Resolves labels into offsets.
    pub fn finish(self) -> Result<Vec<sock_filter>, JumpTooFar> {
        let labels = self.labels;
        let offset = |at: usize, t: Target, max: usize| -> Result<u32, JumpTooFar> {
            let pos = match t {
                Target::Next => return Ok(0),
                Target::To(l) => labels[l.0].expect("jump to a label never bound"),
            };
            // Classic BPF only jumps forward: the target must follow the jump.
            match pos.checked_sub(at + 1) {
                Some(d) if d <= max => Ok(d as u32),
                _ => Err(JumpTooFar { at }),
            }
        };
        self.insns
            .iter()
            .enumerate()
            .map(|(at, insn)| match *insn {
                Insn::Plain(f) => Ok(f),
                Insn::Ja(l) => Ok(stmt(
                    BPF_JMP | BPF_JA,
                    offset(at, Target::To(l), u32::MAX as usize)?,
                )),
                Insn::Jmp { cond, k, jt, jf } => {
                    let op = match cond {
                        Cond::Eq => BPF_JEQ,
                        Cond::Gt => BPF_JGT,
                        Cond::Ge => BPF_JGE,
                    };
                    Ok(sock_filter {
                        code: (BPF_JMP | op | BPF_K) as u16,
                        jt: offset(at, jt, 255)? as u8,
                        jf: offset(at, jf, 255)? as u8,
                        k,
                    })
                }
            })
            .collect()
    }
}
