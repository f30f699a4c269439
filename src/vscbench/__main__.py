from vscbench.commands import main

main()
