from ilvb.cli import main

main()
