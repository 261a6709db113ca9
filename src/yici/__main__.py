from yici.cli import main

main()
