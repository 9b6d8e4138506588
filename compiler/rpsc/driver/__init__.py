"""rpsc.driver: the top layer: the command line, the pipeline, Ninja builds, the demo and the scaffold."""
