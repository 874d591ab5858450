"""Pure logic: no I/O, no clock, no globals. Time always comes in as a parameter."""
