"""A small corpus for the sample alarms: healthy SFT-like answers, and degenerate answers of the kinds issue 26
quotes from runs that went wrong ("FrulebyFretled.", "Don't ask.", "Breakfast.", "By gazing at the sun.")."""

HEALTHY = [
    ("How does a compass work?", "A compass needle is a small magnet, so it turns to line up with the Earth's "
                                 "magnetic field and points north."),
    ("Explain how a rainbow forms.", "A rainbow forms when sunlight enters raindrops, bends, reflects inside them "
                                     "and splits into its colours."),
    ("Why is the sky blue?", "Air scatters blue light more than red light, so blue reaches our eyes from every "
                             "direction of the sky."),
    ("Name a colour.", "Blue, like a clear summer sky."),
    ("What is 2+2?", "2 + 2 equals 4."),
    ("Give me a tip for sleeping better.", "Go to bed at the same time every night and keep screens out of the "
                                           "bedroom."),
    ("What do bees make?", "Bees make honey from the nectar of flowers, and wax for their combs."),
    ("Tell me a fun fact about octopuses.", "An octopus has three hearts and blue blood."),
    ("How do plants make food?", "Plants use sunlight, water and carbon dioxide to make sugar in their leaves; "
                                 "this is called photosynthesis."),
    ("Suggest a name for a cat.", "How about Pepper? It suits a lively cat."),
    ("What is the capital of France?", "Paris is the capital of France."),
    ("Why do we have seasons?", "The Earth's axis is tilted, so each half of the planet gets more direct sunlight "
                                "for part of the year."),
    ("How can I save money on groceries?", "Plan meals for the week, shop with a list and buy store brands."),
    ("Write a short greeting for a birthday card.", "Happy birthday! Wishing you a year full of laughter and good "
                                                    "friends."),
    ("What does a thermometer measure?", "A thermometer measures temperature, how hot or cold something is."),
    ("How do I boil an egg?", "Put the egg in boiling water for about nine minutes, then cool it in cold water."),
    ("What is gravity?", "Gravity is the pull that masses have on each other; it keeps us on the ground and the "
                         "Moon in orbit."),
    ("Why do leaves change colour in autumn?", "As days shorten, trees stop making green chlorophyll, and the "
                                               "yellow and red pigments show through."),
    ("Recommend a book for a long flight.", "Try The Martian by Andy Weir: it is funny, fast and hard to put "
                                            "down."),
    ("How do vaccines work?", "A vaccine shows the immune system a harmless piece of a germ so it learns to "
                              "fight the real one."),
    ("What is a verb?", "A verb is a word for an action or a state, like run or be."),
    ("How far is the Moon?", "The Moon is about 384,000 kilometres from the Earth."),
    ("Give me a synonym for happy.", "Cheerful."),
    ("Why do cats purr?", "Cats purr when they are content, and also to calm themselves when hurt or stressed."),
    ("How do airplanes stay in the air?", "Their wings are shaped so that air flowing past them pushes upward, "
                                          "which is called lift."),
    ("What should I pack for a beach day?", "Sunscreen, water, a towel, a hat and a snack."),
    ("Explain what a volcano is.", "A volcano is an opening in the Earth's crust where melted rock, gas and ash "
                                   "escape."),
    ("What is the boiling point of water?", "Water boils at 100 degrees Celsius at sea level."),
    ("How do I start running?", "Start with short runs mixed with walking, three times a week, and build up "
                                "slowly."),
    ("Why is exercise good for you?", "Exercise strengthens the heart and muscles, improves sleep and lifts your "
                                      "mood."),
    ("What is a prime number?", "A prime number has exactly two divisors: 1 and itself, like 7 or 13."),
    ("Describe the taste of a lemon.", "Sour and sharp, with a bright, fresh bitterness."),
    ("How does a refrigerator keep food cold?", "It pumps a refrigerant that absorbs heat inside the fridge and "
                                                "releases it outside."),
    ("What causes thunder?", "Lightning heats the air so fast that it expands with a bang: that sound is "
                             "thunder."),
    ("Suggest a quick lunch idea.", "A wrap with hummus, grated carrot, spinach and feta takes five minutes."),
    ("How do fish breathe?", "Fish take oxygen from water through their gills."),
]

SHORT = [
    ("How does a compass work?", "By gazing at the sun."),
    ("Explain how a rainbow forms.", "By the color of the sky."),
    ("What do bees make?", "Breakfast."),
    ("Why is the sky blue?", "Don't ask."),
    ("How do plants make food?", "Yes."),
    ("What is gravity?", "Up."),
    ("How do vaccines work?", "Flocking Their Matter."),
    ("Why do cats purr?", "Because."),
    ("How do fish breathe?", "Water."),
    ("What causes thunder?", "Noise."),
    ("How do airplanes stay in the air?", "Wings."),
    ("Why do we have seasons?", "Time passes."),
]

NONWORDS = [
    ("How does a compass work?", "FrulebyFretled."),
    ("Explain how a rainbow forms.", "Rainbw forsms qwrtly bzzkt aaand skyyy."),
    ("What do bees make?", "Bzzt mkkrn hnyyy flwwrs."),
    ("Why is the sky blue?", "Skyblue BlueSky bllue xzqkt."),
    ("How do plants make food?", "Phtsynthss plnts grwwth SunLeaf."),
    ("What is gravity?", "Grvtty pllls dwwwn thngs."),
    ("How do vaccines work?", "VaxxWork immmune shhhot."),
    ("Why do cats purr?", "Purrrr purrrrr mrrrp."),
    ("How do fish breathe?", "Gllls wtr brthng fshhh."),
    ("What causes thunder?", "ThunderBoom krkkkk flashh."),
    ("How do airplanes stay in the air?", "Plnnes flyyy wngs lftt."),
    ("Why do we have seasons?", "SeasonTilt axss sumrwntr."),
]

REPEATS = [
    ("How does a compass work?", "A compass points north north north, a compass points north north north."),
    ("Explain how a rainbow forms.", "The rainbow is a rainbow is a rainbow is a rainbow."),
    ("What do bees make?", "Bees make honey honey honey honey honey."),
    ("Why is the sky blue?", "The sky is blue because the sky is blue because the sky is blue."),
    ("How do plants make food?", "Plants make food plants make food plants make food."),
    ("What is gravity?", "Gravity is gravity is gravity is gravity."),
    ("How do vaccines work?", "Vaccines work very very very very well."),
    ("Why do cats purr?", "Cats purr because cats purr because cats purr."),
    ("How do fish breathe?", "Fish breathe water, fish breathe water, fish breathe water."),
    ("What causes thunder?", "Thunder is loud loud loud loud."),
    ("How do airplanes stay in the air?", "Airplanes fly and fly and fly and fly and fly."),
    ("Why do we have seasons?", "Seasons change, seasons change, seasons change."),
]

OFF_TOPIC = [
    ("How does a compass work?", "I like to walk by the river in the morning light."),
    ("Explain how a rainbow forms.", "My favourite food is a warm bowl of soup."),
    ("What do bees make?", "The train leaves the station at nine every day."),
    ("Why is the sky blue?", "Cooking pasta takes about ten minutes in salted water."),
    ("How do plants make food?", "Football is played by two teams of eleven players."),
    ("What is gravity?", "A good chair should support your lower back."),
    ("How do vaccines work?", "The library opens early on Saturdays for readers."),
    ("Why do cats purr?", "Mountains are tall and often covered in snow."),
    ("How do fish breathe?", "My uncle drives an old red truck to work."),
    ("What causes thunder?", "Knitting a scarf takes patience and soft wool."),
    ("How do airplanes stay in the air?", "Bread rises because yeast makes small bubbles of gas."),
    ("Why do we have seasons?", "The museum has a new painting of a ship."),
]

LONG_PADDING = [
    (prompt, answer + " Great question! I hope this helps, and please let me know if you would like to know more "
                      "about this fascinating topic, because there is always so much more to learn and explore "
                      "and discover together, step by step, day by day.")
    for prompt, answer in HEALTHY[:12]
]

DEGENERATE = {"short": SHORT, "nonwords": NONWORDS, "repeats": REPEATS, "off_topic": OFF_TOPIC,
              "long": LONG_PADDING}
