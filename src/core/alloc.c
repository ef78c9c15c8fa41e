/* SPDX-License-Identifier: MIT */
#include "alloc.h"

int sf_fail_after;

int
sf_should_fail(void)
{
	/* Racy by design: only single-threaded unit tests set the knob. */
	if (--sf_fail_after == 0)
		return 1;
	return 0;
}
