// Media's C shims call libjpeg, but no Swift module on the way imports the libjpeg module, so
// nothing asks the linker for -ljpeg; importing it here makes every binary with Models link.
import CLibJPEG
