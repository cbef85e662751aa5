// Declarations only (see include/FuzzSupport.h); the definitions come from libFuzzer.
#include "FuzzSupport.h"
