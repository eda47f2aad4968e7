"""The IP's identity (IP-XACT VLNV): used by component.xml, the Vivado Tcl and the driver's bindto."""

VENDOR = "convforge.org"
LIBRARY = "convforge"
NAME = "conv_accelerator"
VERSION = "1.0"
VLNV = f"{VENDOR}:{LIBRARY}:{NAME}:{VERSION}"
