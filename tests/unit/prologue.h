/* prologue.h - the settings every test config needs before its governance
 * sections.  Rule and section lines in tests are counted from the end of
 * this prologue (PROLOGUE_LINES). */
#ifndef CSMS_TEST_PROLOGUE_H
#define CSMS_TEST_PROLOGUE_H

#define PROLOGUE \
	"[csms]\n" \
	"region = cn-north-4\n" \
	"project_id = 0123456789abcdef0123456789abcdef\n" \
	"[auth]\n" \
	"method = token\n" \
	"token_file = token\n"
#define PROLOGUE_LINES 6u

#endif
