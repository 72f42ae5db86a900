/*
 * explain.c: the --explain trace. Every stage appends one readable line per
 * step; the trace exists only with --explain (run->explain non-NULL), so
 * this module never writes anywhere itself.
 */
#include "m2wo.h"

#include <stdarg.h>

void explain(m2wo_run_t *run, const char *fmt, ...)
{
	va_list ap;

	if (run == NULL || run->explain == NULL)
		return;
	va_start(ap, fmt);
	g_string_append_vprintf(run->explain, fmt, ap);
	va_end(ap);
	g_string_append_c(run->explain, '\n');
}
