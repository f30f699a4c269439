from vscbench.cli import main

main()
