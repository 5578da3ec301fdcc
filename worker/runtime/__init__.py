"""Runtime: broker, leader lock, scheduler and the in-process `run` (wiring layer)."""
