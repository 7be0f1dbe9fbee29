from persist.cli import main

main()
