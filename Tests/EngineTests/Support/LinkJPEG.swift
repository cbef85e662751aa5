// Media's C shims call libjpeg, but nothing else in this test binary imports the libjpeg module,
// so this import is what makes the linker add -ljpeg.
import CLibJPEG
