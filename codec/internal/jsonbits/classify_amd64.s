#include "textflag.h"

// func classifyAVX2(in *byte, n int, quotes, specials *uint64)
// n > 0 is a multiple of 64. A byte is special when it is '\\', below ' '
// or from 0x7f: as a signed byte, below ' ' (0x80..0xff are negative) or
// equal to 0x7f.
TEXT ·classifyAVX2(SB), NOSPLIT, $0-32
	MOVQ in+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ quotes+16(FP), DI
	MOVQ specials+24(FP), R8

	MOVL $0x22, AX
	MOVQ AX, X0
	VPBROADCASTB X0, Y0 // '"'
	MOVL $0x5c, AX
	MOVQ AX, X1
	VPBROADCASTB X1, Y1 // '\\'
	MOVL $0x20, AX
	MOVQ AX, X2
	VPBROADCASTB X2, Y2 // ' '
	MOVL $0x7f, AX
	MOVQ AX, X3
	VPBROADCASTB X3, Y3 // DEL

loop:
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5

	VPCMPEQB Y4, Y0, Y6
	VPCMPEQB Y5, Y0, Y7
	VPMOVMSKB Y6, AX
	VPMOVMSKB Y7, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, (DI)

	VPCMPEQB Y4, Y1, Y6
	VPCMPGTB Y4, Y2, Y8 // ' ' > byte
	VPCMPEQB Y4, Y3, Y9
	VPOR     Y6, Y8, Y6
	VPOR     Y6, Y9, Y6
	VPCMPEQB Y5, Y1, Y7
	VPCMPGTB Y5, Y2, Y8
	VPCMPEQB Y5, Y3, Y9
	VPOR     Y7, Y8, Y7
	VPOR     Y7, Y9, Y7
	VPMOVMSKB Y6, AX
	VPMOVMSKB Y7, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, (R8)

	ADDQ $64, SI
	ADDQ $8, DI
	ADDQ $8, R8
	SUBQ $64, CX
	JNZ  loop

	VZEROUPPER
	RET
