"""Pure core: functions of their inputs (time included). No I/O, no logging, no globals.

Tested with tables of inputs and expected outputs; everything else calls into it.
"""
