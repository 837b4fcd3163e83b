/* counts.c - the table of counts.h, instantiated once. */
#include "counts.h"

#include "util.h"

const struct count_figure count_figures[] = {
#define COUNT_FIGURE(field, metric, label, label_value, help, status_line, status_text, flags) \
	{ #field, offsetof(struct pass_counts, field), metric, label, label_value, help,      \
	  status_line, status_text, flags },
	PASS_COUNTS(COUNT_FIGURE)
#undef COUNT_FIGURE
};

const size_t n_count_figures = ELEMENTSOF(count_figures);
