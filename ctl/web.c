#include "ctl.h"
int ctl_web(ctl *c, int npos, char **pos)
{
    (void)c, (void)npos, (void)pos;
    return CTL_FAIL;
}
