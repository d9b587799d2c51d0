from nsprov.cli import main

main()
