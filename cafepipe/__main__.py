from cafepipe.cli import main

main()
