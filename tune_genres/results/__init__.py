"""Reading an experiment folder and what is made from it: trials' rows, the report, evaluate, predict."""
