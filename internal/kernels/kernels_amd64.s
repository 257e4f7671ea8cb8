#include "textflag.h"

// func matmulAVX(o, a, b *float32, m, k, n, sai, sap, n8 int)
//
// o (m×n, row stride n) = A·B for the first n8 (a multiple of 8) columns,
// with A(i, p) = a[i·sai + p·sap] and B (k×n, row stride n), using AVX2 FMA:
// blocks of 64 columns with eight accumulators, then of 32 with four, then
// of 8 with two accumulators over alternate p. k ≥ 1.
TEXT ·matmulAVX(SB), NOSPLIT, $0-72
	MOVQ o+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ m+24(FP), R8
	MOVQ k+32(FP), R9
	MOVQ n+40(FP), R11
	SHLQ $2, R11 // row stride of b and o in bytes
	MOVQ sai+48(FP), R13
	SHLQ $2, R13 // bytes between rows of A
	MOVQ sap+56(FP), R12
	SHLQ $2, R12 // bytes between columns of A

rowloop:
	TESTQ R8, R8
	JZ    done
	XORQ  BX, BX // byte offset of the column block

col64:
	MOVQ   BX, R10
	ADDQ   $256, R10
	MOVQ   n8+64(FP), AX
	SHLQ   $2, AX
	CMPQ   R10, AX
	JGT    col32
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, AX
	LEAQ   (DX)(BX*1), CX
	MOVQ   R9, R10

p64:
	VBROADCASTSS (AX), Y8
	VFMADD231PS  (CX), Y8, Y0
	VFMADD231PS  32(CX), Y8, Y1
	VFMADD231PS  64(CX), Y8, Y2
	VFMADD231PS  96(CX), Y8, Y3
	VFMADD231PS  128(CX), Y8, Y4
	VFMADD231PS  160(CX), Y8, Y5
	VFMADD231PS  192(CX), Y8, Y6
	VFMADD231PS  224(CX), Y8, Y7
	ADDQ         R12, AX
	ADDQ         R11, CX
	DECQ         R10
	JNZ          p64
	VMOVUPS      Y0, (DI)(BX*1)
	VMOVUPS      Y1, 32(DI)(BX*1)
	VMOVUPS      Y2, 64(DI)(BX*1)
	VMOVUPS      Y3, 96(DI)(BX*1)
	VMOVUPS      Y4, 128(DI)(BX*1)
	VMOVUPS      Y5, 160(DI)(BX*1)
	VMOVUPS      Y6, 192(DI)(BX*1)
	VMOVUPS      Y7, 224(DI)(BX*1)
	ADDQ         $256, BX
	JMP          col64

col32:
	MOVQ   BX, R10
	ADDQ   $128, R10
	MOVQ   n8+64(FP), AX
	SHLQ   $2, AX
	CMPQ   R10, AX
	JGT    col8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, AX         // &A(i, 0)
	LEAQ   (DX)(BX*1), CX // &B(0, block)
	MOVQ   R9, R10        // k left

p32:
	VBROADCASTSS (AX), Y4
	VFMADD231PS  (CX), Y4, Y0
	VFMADD231PS  32(CX), Y4, Y1
	VFMADD231PS  64(CX), Y4, Y2
	VFMADD231PS  96(CX), Y4, Y3
	ADDQ         R12, AX
	ADDQ         R11, CX
	DECQ         R10
	JNZ          p32
	VMOVUPS      Y0, (DI)(BX*1)
	VMOVUPS      Y1, 32(DI)(BX*1)
	VMOVUPS      Y2, 64(DI)(BX*1)
	VMOVUPS      Y3, 96(DI)(BX*1)
	ADDQ         $128, BX
	JMP          col32

col8:
	MOVQ   n8+64(FP), AX
	SHLQ   $2, AX
	CMPQ   BX, AX
	JGE    rowdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   SI, AX
	LEAQ   (DX)(BX*1), CX
	MOVQ   R9, R10

p8:
	CMPQ         R10, $2
	JLT          p8one
	VBROADCASTSS (AX), Y4
	VFMADD231PS  (CX), Y4, Y0
	ADDQ         R12, AX
	ADDQ         R11, CX
	VBROADCASTSS (AX), Y5
	VFMADD231PS  (CX), Y5, Y1
	ADDQ         R12, AX
	ADDQ         R11, CX
	SUBQ         $2, R10
	JMP          p8

p8one:
	TESTQ        R10, R10
	JZ           p8done
	VBROADCASTSS (AX), Y4
	VFMADD231PS  (CX), Y4, Y0

p8done:
	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     col8

rowdone:
	ADDQ R13, SI
	ADDQ R11, DI
	DECQ R8
	JMP  rowloop

done:
	VZEROUPPER
	RET

// Constants of expLogistic4AVX, four float64 (or int64) copies each.
DATA expHi<>+0(SB)/8, $0x4085e00000000000
DATA expHi<>+8(SB)/8, $0x4085e00000000000
DATA expHi<>+16(SB)/8, $0x4085e00000000000
DATA expHi<>+24(SB)/8, $0x4085e00000000000
GLOBL expHi<>(SB), RODATA|NOPTR, $32
DATA expLo<>+0(SB)/8, $0xc085e00000000000
DATA expLo<>+8(SB)/8, $0xc085e00000000000
DATA expLo<>+16(SB)/8, $0xc085e00000000000
DATA expLo<>+24(SB)/8, $0xc085e00000000000
GLOBL expLo<>(SB), RODATA|NOPTR, $32
DATA log2e<>+0(SB)/8, $0x3ff71547652b82fe
DATA log2e<>+8(SB)/8, $0x3ff71547652b82fe
DATA log2e<>+16(SB)/8, $0x3ff71547652b82fe
DATA log2e<>+24(SB)/8, $0x3ff71547652b82fe
GLOBL log2e<>(SB), RODATA|NOPTR, $32
DATA magic<>+0(SB)/8, $0x4338000000000000
DATA magic<>+8(SB)/8, $0x4338000000000000
DATA magic<>+16(SB)/8, $0x4338000000000000
DATA magic<>+24(SB)/8, $0x4338000000000000
GLOBL magic<>(SB), RODATA|NOPTR, $32
DATA ln2hi<>+0(SB)/8, $0x3fe62e42fee00000
DATA ln2hi<>+8(SB)/8, $0x3fe62e42fee00000
DATA ln2hi<>+16(SB)/8, $0x3fe62e42fee00000
DATA ln2hi<>+24(SB)/8, $0x3fe62e42fee00000
GLOBL ln2hi<>(SB), RODATA|NOPTR, $32
DATA ln2lo<>+0(SB)/8, $0x3dea39ef35793c76
DATA ln2lo<>+8(SB)/8, $0x3dea39ef35793c76
DATA ln2lo<>+16(SB)/8, $0x3dea39ef35793c76
DATA ln2lo<>+24(SB)/8, $0x3dea39ef35793c76
GLOBL ln2lo<>(SB), RODATA|NOPTR, $32
DATA one<>+0(SB)/8, $0x3ff0000000000000
DATA one<>+8(SB)/8, $0x3ff0000000000000
DATA one<>+16(SB)/8, $0x3ff0000000000000
DATA one<>+24(SB)/8, $0x3ff0000000000000
GLOBL one<>(SB), RODATA|NOPTR, $32
DATA c2<>+0(SB)/8, $0x3fe0000000000000
DATA c2<>+8(SB)/8, $0x3fe0000000000000
DATA c2<>+16(SB)/8, $0x3fe0000000000000
DATA c2<>+24(SB)/8, $0x3fe0000000000000
GLOBL c2<>(SB), RODATA|NOPTR, $32
DATA c3<>+0(SB)/8, $0x3fc5555555555555
DATA c3<>+8(SB)/8, $0x3fc5555555555555
DATA c3<>+16(SB)/8, $0x3fc5555555555555
DATA c3<>+24(SB)/8, $0x3fc5555555555555
GLOBL c3<>(SB), RODATA|NOPTR, $32
DATA c4<>+0(SB)/8, $0x3fa5555555555555
DATA c4<>+8(SB)/8, $0x3fa5555555555555
DATA c4<>+16(SB)/8, $0x3fa5555555555555
DATA c4<>+24(SB)/8, $0x3fa5555555555555
GLOBL c4<>(SB), RODATA|NOPTR, $32
DATA c5<>+0(SB)/8, $0x3f81111111111111
DATA c5<>+8(SB)/8, $0x3f81111111111111
DATA c5<>+16(SB)/8, $0x3f81111111111111
DATA c5<>+24(SB)/8, $0x3f81111111111111
GLOBL c5<>(SB), RODATA|NOPTR, $32
DATA c6<>+0(SB)/8, $0x3f56c16c16c16c17
DATA c6<>+8(SB)/8, $0x3f56c16c16c16c17
DATA c6<>+16(SB)/8, $0x3f56c16c16c16c17
DATA c6<>+24(SB)/8, $0x3f56c16c16c16c17
GLOBL c6<>(SB), RODATA|NOPTR, $32
DATA c7<>+0(SB)/8, $0x3f2a01a01a01a01a
DATA c7<>+8(SB)/8, $0x3f2a01a01a01a01a
DATA c7<>+16(SB)/8, $0x3f2a01a01a01a01a
DATA c7<>+24(SB)/8, $0x3f2a01a01a01a01a
GLOBL c7<>(SB), RODATA|NOPTR, $32
DATA c8<>+0(SB)/8, $0x3efa01a01a01a01a
DATA c8<>+8(SB)/8, $0x3efa01a01a01a01a
DATA c8<>+16(SB)/8, $0x3efa01a01a01a01a
DATA c8<>+24(SB)/8, $0x3efa01a01a01a01a
GLOBL c8<>(SB), RODATA|NOPTR, $32
DATA bias<>+0(SB)/8, $0x00000000000003ff
DATA bias<>+8(SB)/8, $0x00000000000003ff
DATA bias<>+16(SB)/8, $0x00000000000003ff
DATA bias<>+24(SB)/8, $0x00000000000003ff
GLOBL bias<>(SB), RODATA|NOPTR, $32

// func expLogistic4AVX(dst, src *float32, n int, logistic bool)
//
// dst[i] = e^src[i] (logistic false) or 1/(1 + e^−src[i]) (logistic true)
// for i < n, n a multiple of 4, computed in float64 four at a time with the
// method of expApprox (clamp to ±700, k = round(y·log2e) by the 1.5·2⁵²
// trick, r = y − k·ln2 in two parts, degree-8 Taylor polynomial by Estrin's
// scheme with FMA, times 2^k built in the exponent bits), rounded to float32.
TEXT ·expLogistic4AVX(SB), NOSPLIT, $0-25
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	MOVBLZX logistic+24(FP), DX
	VMOVUPD expHi<>(SB), Y8
	VMOVUPD expLo<>(SB), Y9
	VMOVUPD log2e<>(SB), Y10
	VMOVUPD magic<>(SB), Y11
	VMOVUPD one<>(SB), Y12
	VXORPD  Y13, Y13, Y13 // zero, to negate y for the logistic

loop:
	CMPQ      CX, $4
	JLT       done
	VCVTPS2PD (SI), Y0 // y
	TESTQ     DX, DX
	JZ        clamp
	VSUBPD    Y0, Y13, Y0 // y = −x

clamp:
	VMINPD      Y0, Y8, Y0 // min(700, y); NaN stays (the second source is y)
	VMAXPD      Y0, Y9, Y0 // max(−700, y)
	VMOVAPD     Y11, Y1
	VFMADD231PD Y10, Y0, Y1 // kt = y·log2e + magic
	VSUBPD      Y11, Y1, Y2 // k = kt − magic
	VMOVUPD     ln2hi<>(SB), Y3
	VFNMADD231PD Y3, Y2, Y0 // y − k·ln2hi
	VMOVUPD     ln2lo<>(SB), Y3
	VFNMADD231PD Y3, Y2, Y0 // r = y − k·ln2hi − k·ln2lo
	VMULPD      Y0, Y0, Y4  // r2
	VMULPD      Y4, Y4, Y5  // r4
	VADDPD      Y12, Y0, Y6 // q01 = 1 + r
	VMOVUPD     c2<>(SB), Y7
	VMOVUPD     c3<>(SB), Y3
	VFMADD231PD Y3, Y0, Y7 // q23 = c2 + c3·r
	VMOVUPD     c4<>(SB), Y14
	VMOVUPD     c5<>(SB), Y3
	VFMADD231PD Y3, Y0, Y14 // q45 = c4 + c5·r
	VMOVUPD     c6<>(SB), Y15
	VMOVUPD     c7<>(SB), Y3
	VFMADD231PD Y3, Y0, Y15 // q67 = c6 + c7·r
	VFMADD231PD Y15, Y4, Y14 // s = q45 + r2·q67
	VMOVUPD     c8<>(SB), Y3
	VFMADD231PD Y3, Y5, Y14 // s += r4·c8
	VFMADD231PD Y7, Y4, Y6  // p = q01 + r2·q23
	VFMADD231PD Y14, Y5, Y6 // p += r4·s
	VPADDQ      bias<>(SB), Y1, Y1 // k + 1023 in the low bits of kt
	VPSLLQ      $52, Y1, Y1        // 2^k
	VMULPD      Y1, Y6, Y0         // e^y
	TESTQ       DX, DX
	JZ          store
	VADDPD      Y12, Y0, Y0 // 1 + e^−x
	VDIVPD      Y0, Y12, Y0 // 1/(1 + e^−x)

store:
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	SUBQ       $4, CX
	JMP        loop

done:
	VZEROUPPER
	RET

// func binOpAVX(o, x, y *float32, n, op int, yScalar bool)
//
// o[i] = x[i] op y[i] (or op y[0] when yScalar) for i < n, n a multiple of 8;
// op 0: +, 1: ×, 2: −, 3: reversed − (y − x).
TEXT ·binOpAVX(SB), NOSPLIT, $0-41
	MOVQ    o+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    y+16(FP), DX
	MOVQ    n+24(FP), CX
	MOVQ    op+32(FP), R8
	MOVBLZX yScalar+40(FP), R9
	XORQ    BX, BX // byte offset
	SHLQ    $2, CX // end in bytes
	TESTQ   R9, R9
	JZ      vector
	VBROADCASTSS (DX), Y1

scalarloop:
	CMPQ    BX, CX
	JGE     done
	VMOVUPS (SI)(BX*1), Y0
	CMPQ    R8, $0
	JNE     s1
	VADDPS  Y1, Y0, Y0
	JMP     sstore

s1:
	CMPQ   R8, $1
	JNE    s2
	VMULPS Y1, Y0, Y0
	JMP    sstore

s2:
	CMPQ   R8, $2
	JNE    s3
	VSUBPS Y1, Y0, Y0 // x − c
	JMP    sstore

s3:
	VSUBPS Y0, Y1, Y0 // c − x

sstore:
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     scalarloop

vector:
	CMPQ    BX, CX
	JGE     done
	VMOVUPS (SI)(BX*1), Y0
	VMOVUPS (DX)(BX*1), Y1
	CMPQ    R8, $0
	JNE     v1
	VADDPS  Y1, Y0, Y0
	JMP     vstore

v1:
	CMPQ   R8, $1
	JNE    v2
	VMULPS Y1, Y0, Y0
	JMP    vstore

v2:
	CMPQ   R8, $2
	JNE    v3
	VSUBPS Y1, Y0, Y0
	JMP    vstore

v3:
	VSUBPS Y0, Y1, Y0

vstore:
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     vector

done:
	VZEROUPPER
	RET

// func rowOpAVX(o, x, r *float32, rows, n, op int)
//
// o[i·n + j] = x[i·n + j] op r[j] for i < rows, j < n, n a multiple of 8;
// op 0: +, 1: ×, 2: −, 3: reversed − (r − x).
TEXT ·rowOpAVX(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ r+16(FP), DX
	MOVQ rows+24(FP), R8
	MOVQ n+32(FP), CX
	SHLQ $2, CX // row length in bytes
	MOVQ op+40(FP), R9

rows:
	TESTQ R8, R8
	JZ    rdone
	XORQ  BX, BX

cols:
	CMPQ    BX, CX
	JGE     rownext
	VMOVUPS (SI)(BX*1), Y0
	VMOVUPS (DX)(BX*1), Y1
	CMPQ    R9, $0
	JNE     r1
	VADDPS  Y1, Y0, Y0
	JMP     rstore

r1:
	CMPQ   R9, $1
	JNE    r2
	VMULPS Y1, Y0, Y0
	JMP    rstore

r2:
	CMPQ   R9, $2
	JNE    r3
	VSUBPS Y1, Y0, Y0
	JMP    rstore

r3:
	VSUBPS Y0, Y1, Y0

rstore:
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     cols

rownext:
	ADDQ CX, SI
	ADDQ CX, DI
	DECQ R8
	JMP  rows

rdone:
	VZEROUPPER
	RET

// func matmulBlockAVX(o, a, b *float32, m, k, n, sai, sap, n8 int)
//
// matmulAVX for m a multiple of 6, register-blocked: each block of six rows
// of o is computed 16 columns at a time in twelve accumulators (per p: two
// loads of B, six broadcasts of A, twelve FMAs), then a last block of 8
// columns in six. Every element of o is still the sum over p in order. k ≥ 1.
TEXT ·matmulBlockAVX(SB), NOSPLIT, $0-72
	MOVQ o+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ m+24(FP), R8
	MOVQ k+32(FP), R9
	MOVQ n+40(FP), R11
	SHLQ $2, R11 // row stride of b and o in bytes
	MOVQ sai+48(FP), R13
	SHLQ $2, R13 // bytes between rows of A
	MOVQ sap+56(FP), R12
	SHLQ $2, R12 // bytes between columns of A

blkrow:
	CMPQ R8, $6
	JLT  blkdone
	XORQ BX, BX // byte offset of the column block

blk16:
	MOVQ   n8+64(FP), AX
	SHLQ   $2, AX
	LEAQ   64(BX), R10
	CMPQ   R10, AX
	JGT    blk8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ   SI, AX             // &A(i, p)
	LEAQ   (SI)(R13*2), R14
	ADDQ   R13, R14           // &A(i+3, p)
	LEAQ   (DX)(BX*1), CX     // &B(p, block)
	MOVQ   R9, R10            // k left

p16:
	VMOVUPS      (CX), Y12
	VMOVUPS      32(CX), Y13
	VBROADCASTSS (AX), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS (AX)(R13*1), Y15
	VFMADD231PS  Y12, Y15, Y2
	VFMADD231PS  Y13, Y15, Y3
	VBROADCASTSS (AX)(R13*2), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS (R14), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VBROADCASTSS (R14)(R13*1), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS (R14)(R13*2), Y15
	VFMADD231PS  Y12, Y15, Y10
	VFMADD231PS  Y13, Y15, Y11
	ADDQ         R12, AX
	ADDQ         R12, R14
	ADDQ         R11, CX
	DECQ         R10
	JNZ          p16
	LEAQ         (DI)(BX*1), R10 // &o(i, block)
	VMOVUPS      Y0, (R10)
	VMOVUPS      Y1, 32(R10)
	ADDQ         R11, R10
	VMOVUPS      Y2, (R10)
	VMOVUPS      Y3, 32(R10)
	ADDQ         R11, R10
	VMOVUPS      Y4, (R10)
	VMOVUPS      Y5, 32(R10)
	ADDQ         R11, R10
	VMOVUPS      Y6, (R10)
	VMOVUPS      Y7, 32(R10)
	ADDQ         R11, R10
	VMOVUPS      Y8, (R10)
	VMOVUPS      Y9, 32(R10)
	ADDQ         R11, R10
	VMOVUPS      Y10, (R10)
	VMOVUPS      Y11, 32(R10)
	ADDQ         $64, BX
	JMP          blk16

blk8:
	CMPQ   BX, AX // AX: n8 in bytes
	JGE    blknext
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	MOVQ   SI, AX
	LEAQ   (SI)(R13*2), R14
	ADDQ   R13, R14
	LEAQ   (DX)(BX*1), CX
	MOVQ   R9, R10

p8b:
	VMOVUPS      (CX), Y12
	VBROADCASTSS (AX), Y14
	VFMADD231PS  Y12, Y14, Y0
	VBROADCASTSS (AX)(R13*1), Y15
	VFMADD231PS  Y12, Y15, Y1
	VBROADCASTSS (AX)(R13*2), Y14
	VFMADD231PS  Y12, Y14, Y2
	VBROADCASTSS (R14), Y15
	VFMADD231PS  Y12, Y15, Y3
	VBROADCASTSS (R14)(R13*1), Y14
	VFMADD231PS  Y12, Y14, Y4
	VBROADCASTSS (R14)(R13*2), Y15
	VFMADD231PS  Y12, Y15, Y5
	ADDQ         R12, AX
	ADDQ         R12, R14
	ADDQ         R11, CX
	DECQ         R10
	JNZ          p8b
	LEAQ         (DI)(BX*1), R10
	VMOVUPS      Y0, (R10)
	ADDQ         R11, R10
	VMOVUPS      Y1, (R10)
	ADDQ         R11, R10
	VMOVUPS      Y2, (R10)
	ADDQ         R11, R10
	VMOVUPS      Y3, (R10)
	ADDQ         R11, R10
	VMOVUPS      Y4, (R10)
	ADDQ         R11, R10
	VMOVUPS      Y5, (R10)
	ADDQ         $32, BX
	MOVQ         n8+64(FP), AX
	SHLQ         $2, AX
	JMP          blk8

blknext:
	LEAQ (R13)(R13*2), R10
	LEAQ (SI)(R10*2), SI // six rows of A on
	LEAQ (R11)(R11*2), R10
	LEAQ (DI)(R10*2), DI // six rows of o on
	SUBQ $6, R8
	JMP  blkrow

blkdone:
	VZEROUPPER
	RET

// func matmulBlock512(o, a, b *float32, m, k, n, sai, sap int)
//
// o (m×n, row stride n) = A·B over all n columns for m a multiple of 6,
// with A(i, p) = a[i·sai + p·sap] and B (k×n, row stride n), using
// AVX-512F: each block of six rows of o is computed 32 columns at a time in
// twelve accumulators (per p: two loads of B, six broadcasts of A, twelve
// FMAs), the last block of 17 to 31 columns with a masked second half, one of
// at most 16 columns masked in six accumulators. Masked loads and stores
// touch nothing past column n. Every element of o is the sum over p in
// order. k ≥ 1.
TEXT ·matmulBlock512(SB), NOSPLIT, $0-64
	MOVQ o+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ m+24(FP), R8
	MOVQ k+32(FP), R9
	MOVQ n+40(FP), R11
	SHLQ $2, R11 // row stride of b and o in bytes
	MOVQ sai+48(FP), R13
	SHLQ $2, R13 // bytes between rows of A
	MOVQ sap+56(FP), R12
	SHLQ $2, R12 // bytes between columns of A

zrow:
	CMPQ R8, $6
	JLT  zdone
	XORQ BX, BX // byte offset of the column block

zcol:
	MOVQ R11, AX
	SUBQ BX, AX
	JLE  znext
	SHRQ $2, AX // columns left
	CMPQ AX, $16
	JLE  z16
	LEAQ -16(AX), CX
	CMPQ CX, $16
	JLE  zmask
	MOVQ $16, CX

zmask:
	MOVL      $1, R10
	SHLL      CX, R10
	DECL      R10
	KMOVW     R10, K2 // columns of the second half
	VPXORD    Z0, Z0, Z0
	VMOVAPS   Z0, Z1
	VMOVAPS   Z0, Z2
	VMOVAPS   Z0, Z3
	VMOVAPS   Z0, Z4
	VMOVAPS   Z0, Z5
	VMOVAPS   Z0, Z6
	VMOVAPS   Z0, Z7
	VMOVAPS   Z0, Z8
	VMOVAPS   Z0, Z9
	VMOVAPS   Z0, Z10
	VMOVAPS   Z0, Z11
	MOVQ      SI, AX         // &A(i, p)
	LEAQ      (SI)(R13*2), R14
	ADDQ      R13, R14       // &A(i+3, p)
	LEAQ      (DX)(BX*1), CX // &B(p, block)
	MOVQ      R9, R10        // k left

zp32:
	VMOVUPS      (CX), Z12
	VMOVUPS.Z    64(CX), K2, Z13
	VBROADCASTSS (AX), Z14
	VFMADD231PS  Z12, Z14, Z0
	VFMADD231PS  Z13, Z14, Z1
	VBROADCASTSS (AX)(R13*1), Z15
	VFMADD231PS  Z12, Z15, Z2
	VFMADD231PS  Z13, Z15, Z3
	VBROADCASTSS (AX)(R13*2), Z16
	VFMADD231PS  Z12, Z16, Z4
	VFMADD231PS  Z13, Z16, Z5
	VBROADCASTSS (R14), Z17
	VFMADD231PS  Z12, Z17, Z6
	VFMADD231PS  Z13, Z17, Z7
	VBROADCASTSS (R14)(R13*1), Z18
	VFMADD231PS  Z12, Z18, Z8
	VFMADD231PS  Z13, Z18, Z9
	VBROADCASTSS (R14)(R13*2), Z19
	VFMADD231PS  Z12, Z19, Z10
	VFMADD231PS  Z13, Z19, Z11
	ADDQ         R12, AX
	ADDQ         R12, R14
	ADDQ         R11, CX
	DECQ         R10
	JNZ          zp32
	LEAQ         (DI)(BX*1), R10 // &o(i, block)
	VMOVUPS      Z0, (R10)
	VMOVUPS      Z1, K2, 64(R10)
	ADDQ         R11, R10
	VMOVUPS      Z2, (R10)
	VMOVUPS      Z3, K2, 64(R10)
	ADDQ         R11, R10
	VMOVUPS      Z4, (R10)
	VMOVUPS      Z5, K2, 64(R10)
	ADDQ         R11, R10
	VMOVUPS      Z6, (R10)
	VMOVUPS      Z7, K2, 64(R10)
	ADDQ         R11, R10
	VMOVUPS      Z8, (R10)
	VMOVUPS      Z9, K2, 64(R10)
	ADDQ         R11, R10
	VMOVUPS      Z10, (R10)
	VMOVUPS      Z11, K2, 64(R10)
	ADDQ         $128, BX
	JMP          zcol

z16:
	MOVQ      AX, CX
	MOVL      $1, R10
	SHLL      CX, R10
	DECL      R10
	KMOVW     R10, K1 // columns of the block
	VPXORD    Z0, Z0, Z0
	VMOVAPS   Z0, Z1
	VMOVAPS   Z0, Z2
	VMOVAPS   Z0, Z3
	VMOVAPS   Z0, Z4
	VMOVAPS   Z0, Z5
	MOVQ      SI, AX
	LEAQ      (SI)(R13*2), R14
	ADDQ      R13, R14
	LEAQ      (DX)(BX*1), CX
	MOVQ      R9, R10

zp16:
	VMOVUPS.Z    (CX), K1, Z12
	VBROADCASTSS (AX), Z14
	VFMADD231PS  Z12, Z14, Z0
	VBROADCASTSS (AX)(R13*1), Z15
	VFMADD231PS  Z12, Z15, Z1
	VBROADCASTSS (AX)(R13*2), Z16
	VFMADD231PS  Z12, Z16, Z2
	VBROADCASTSS (R14), Z17
	VFMADD231PS  Z12, Z17, Z3
	VBROADCASTSS (R14)(R13*1), Z18
	VFMADD231PS  Z12, Z18, Z4
	VBROADCASTSS (R14)(R13*2), Z19
	VFMADD231PS  Z12, Z19, Z5
	ADDQ         R12, AX
	ADDQ         R12, R14
	ADDQ         R11, CX
	DECQ         R10
	JNZ          zp16
	LEAQ         (DI)(BX*1), R10
	VMOVUPS      Z0, K1, (R10)
	ADDQ         R11, R10
	VMOVUPS      Z1, K1, (R10)
	ADDQ         R11, R10
	VMOVUPS      Z2, K1, (R10)
	ADDQ         R11, R10
	VMOVUPS      Z3, K1, (R10)
	ADDQ         R11, R10
	VMOVUPS      Z4, K1, (R10)
	ADDQ         R11, R10
	VMOVUPS      Z5, K1, (R10)
	ADDQ         $64, BX
	JMP          zcol

znext:
	LEAQ (R13)(R13*2), R10
	LEAQ (SI)(R10*2), SI // six rows of A on
	LEAQ (R11)(R11*2), R10
	LEAQ (DI)(R10*2), DI // six rows of o on
	SUBQ $6, R8
	JMP  zrow

zdone:
	VZEROUPPER
	RET

// func signAVX(dst, src *float32, n int)
//
// dst[i] = 1 where src[i] > 0, −1 where src[i] < 0, else 0 (zeros and NaN)
// for i < n, n a multiple of 8 (AVX required): two ordered comparisons
// select the constants.
TEXT ·signAVX(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	SHLQ         $2, CX          // end in bytes
	XORQ         BX, BX          // byte offset
	MOVL         $0x3f800000, AX // 1.0
	VMOVD        AX, X2
	VBROADCASTSS X2, Y2
	MOVL         $0xbf800000, AX // −1.0
	VMOVD        AX, X6
	VBROADCASTSS X6, Y6
	VXORPS       Y5, Y5, Y5

signloop:
	CMPQ    BX, CX
	JGE     signdone
	VMOVUPS (SI)(BX*1), Y0
	VCMPPS  $0x1e, Y5, Y0, Y3 // src > 0 (GT_OQ)
	VCMPPS  $0x11, Y5, Y0, Y4 // src < 0 (LT_OQ)
	VANDPS  Y2, Y3, Y3
	VANDPS  Y6, Y4, Y4
	VORPS   Y4, Y3, Y3
	VMOVUPS Y3, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     signloop

signdone:
	VZEROUPPER
	RET
