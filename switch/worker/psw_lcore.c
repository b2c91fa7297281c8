/* Names of the per-worker event counters declared in psw_lcore.h. */
#include "psw_lcore.h"

static const char *const event_names[PSW_EV_COUNT] = {
#define _(sym, name, help) [PSW_EV_##sym] = name,
	PSW_EVENTS(_)
#undef _
};

const char *
psw_event_name(unsigned ev)
{
	return ev < PSW_EV_COUNT ? event_names[ev] : "invalid";
}
