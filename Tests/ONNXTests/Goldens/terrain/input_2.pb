B
difficultyJϐ?