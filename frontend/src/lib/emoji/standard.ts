// The standard emoji offered by the composer's suggestions and the emoji picker: a few hundred
// common Unicode emoji in eight categories, each with a descriptive name and the shortcodes
// people often type for it (`:thumbs_up:`, `:+1:`). Loaded on first use (the app's first page
// does not need it: `loadStandardEmoji`). Each line below is one emoji: its character, then its names.

import type { EmojiCategory, StandardEmoji } from './emoji';
import { CATEGORIES } from './emoji';

const DATA: Record<EmojiCategory, string> = {
  people: `
😀 grinning_face grinning
😃 grinning_face_with_big_eyes smiley
😄 grinning_face_with_smiling_eyes smile
😁 beaming_face grin
😆 grinning_squinting_face laughing satisfied
😅 grinning_face_with_sweat sweat_smile
🤣 rolling_on_the_floor_laughing rofl
😂 face_with_tears_of_joy joy lol
🙂 slightly_smiling_face
🙃 upside_down_face
😉 winking_face wink
😊 smiling_face_with_smiling_eyes blush
😇 smiling_face_with_halo innocent
🥰 smiling_face_with_hearts
😍 smiling_face_with_heart_eyes heart_eyes
🤩 star_struck
😘 face_blowing_a_kiss kissing_heart
😗 kissing_face kissing
😋 face_savoring_food yum
😛 face_with_tongue stuck_out_tongue
😜 winking_face_with_tongue stuck_out_tongue_winking_eye
🤪 zany_face
😝 squinting_face_with_tongue stuck_out_tongue_closed_eyes
🤑 money_mouth_face
🤗 hugging_face hugs
🤭 face_with_hand_over_mouth
🤫 shushing_face
🤔 thinking_face thinking
🤐 zipper_mouth_face
🤨 face_with_raised_eyebrow raised_eyebrow
😐 neutral_face
😑 expressionless_face expressionless
😶 face_without_mouth no_mouth
😏 smirking_face smirk
😒 unamused_face unamused
🙄 face_with_rolling_eyes roll_eyes
😬 grimacing_face grimacing
🤥 lying_face
😌 relieved_face relieved
😔 pensive_face pensive
😪 sleepy_face sleepy
🤤 drooling_face
😴 sleeping_face sleeping
😷 face_with_medical_mask mask
🤒 face_with_thermometer
🤕 face_with_head_bandage
🤢 nauseated_face
🤮 face_vomiting vomiting
🤧 sneezing_face sneezing
🥵 hot_face
🥶 cold_face
🥴 woozy_face
😵 dizzy_face
🤯 exploding_head mind_blown
🤠 cowboy_hat_face cowboy
🥳 partying_face party
😎 smiling_face_with_sunglasses sunglasses cool
🤓 nerd_face nerd
🧐 face_with_monocle monocle
😕 confused_face confused
😟 worried_face worried
🙁 slightly_frowning_face
😮 face_with_open_mouth open_mouth wow
😯 hushed_face hushed
😲 astonished_face astonished
😳 flushed_face flushed
🥺 pleading_face pleading
😦 frowning_face_with_open_mouth
😧 anguished_face anguished
😨 fearful_face fearful
😰 anxious_face_with_sweat cold_sweat
😥 sad_but_relieved_face disappointed_relieved
😢 crying_face cry sad
😭 loudly_crying_face sob
😱 face_screaming_in_fear scream
😖 confounded_face confounded
😣 persevering_face persevere
😞 disappointed_face disappointed
😓 downcast_face_with_sweat sweat
😩 weary_face weary
😫 tired_face
🥱 yawning_face yawn
😤 face_with_steam_from_nose triumph huffing
😡 pouting_face rage
😠 angry_face angry
🤬 face_with_symbols_on_mouth cursing
😈 smiling_face_with_horns smiling_imp
👿 angry_face_with_horns imp
💀 skull
💩 pile_of_poo poop
🤡 clown_face clown
👻 ghost
👽 alien
🤖 robot
😺 grinning_cat smiley_cat
😹 cat_with_tears_of_joy joy_cat
😻 smiling_cat_with_heart_eyes heart_eyes_cat
🙈 see_no_evil_monkey see_no_evil
🙉 hear_no_evil_monkey hear_no_evil
🙊 speak_no_evil_monkey speak_no_evil
👋 waving_hand wave
🤚 raised_back_of_hand
✋ raised_hand hand high_five
🖖 vulcan_salute
👌 ok_hand
🤌 pinched_fingers
🤏 pinching_hand
🤞 crossed_fingers
🤟 love_you_gesture
🤘 sign_of_the_horns metal
🤙 call_me_hand
👈 backhand_index_pointing_left point_left
👉 backhand_index_pointing_right point_right
👆 backhand_index_pointing_up point_up
👇 backhand_index_pointing_down point_down
👍 thumbs_up +1 thumbsup
👎 thumbs_down -1 thumbsdown
✊ raised_fist fist
👊 oncoming_fist punch fist_bump
👏 clapping_hands clap
🙌 raising_hands raised_hands
👐 open_hands
🤲 palms_up_together
🤝 handshake
🙏 folded_hands pray please thanks
💪 flexed_biceps muscle strong
🧠 brain
👀 eyes
👶 baby
🧒 child
👦 boy
👧 girl
🧑 person adult
👨 man
👩 woman
🧓 older_person older_adult
🙋 person_raising_hand raising_hand
🤷 person_shrugging shrug
🤦 person_facepalming facepalm
🙇 person_bowing bow
💁 person_tipping_hand information_desk_person
🙅 person_gesturing_no no_good
🙆 person_gesturing_ok ok_person
👮 police_officer cop
🥷 ninja
🧙 mage wizard
🧛 vampire
🧟 zombie
🏃 person_running runner running
💃 woman_dancing dancer
🕺 man_dancing
🚶 person_walking walking
🧘 person_in_lotus_position yoga
`,
  nature: `
🐶 dog_face dog
🐱 cat_face cat
🐭 mouse_face mouse
🐹 hamster
🐰 rabbit_face rabbit bunny
🦊 fox
🐻 bear
🐼 panda
🐨 koala
🐯 tiger_face tiger
🦁 lion
🐮 cow_face cow
🐷 pig_face pig
🐸 frog
🐵 monkey_face
🐒 monkey
🐔 chicken
🐧 penguin
🐦 bird
🐤 baby_chick
🦆 duck
🦅 eagle
🦉 owl
🦇 bat
🐺 wolf
🐗 boar
🐴 horse_face horse
🦄 unicorn
🐝 honeybee bee
🐛 bug
🦋 butterfly
🐌 snail
🐞 lady_beetle ladybug
🐜 ant
🐢 turtle
🐍 snake
🦎 lizard
🦖 t_rex
🦕 sauropod dinosaur
🐙 octopus
🦑 squid
🦀 crab
🐠 tropical_fish
🐟 fish
🐬 dolphin
🐳 spouting_whale whale
🦈 shark
🐊 crocodile
🐘 elephant
🦒 giraffe
🐪 camel
🦘 kangaroo
🐑 ewe sheep
🐐 goat
🦌 deer
🐓 rooster
🦜 parrot
🦩 flamingo
🦔 hedgehog
🦥 sloth
🐾 paw_prints feet
🌵 cactus
🎄 christmas_tree
🌲 evergreen_tree
🌳 deciduous_tree tree
🌴 palm_tree
🌱 seedling
🌿 herb
🍀 four_leaf_clover
🍁 maple_leaf
🍂 fallen_leaf
🍄 mushroom
💐 bouquet
🌷 tulip
🌹 rose
🌻 sunflower
🌸 cherry_blossom
🌼 blossom
🌞 sun_with_face
🌝 full_moon_face
🌙 crescent_moon moon
⭐ star
🌟 glowing_star star2
✨ sparkles
⚡ high_voltage zap lightning
🔥 fire flame lit
🌈 rainbow
⛅ sun_behind_cloud partly_sunny
💧 droplet
🌊 water_wave ocean
🌍 globe_showing_europe_africa earth_africa
🌎 globe_showing_americas earth_americas
🌏 globe_showing_asia_australia earth_asia
`,
  food: `
🍏 green_apple
🍎 red_apple apple
🍐 pear
🍊 tangerine orange
🍋 lemon
🍌 banana
🍉 watermelon
🍇 grapes
🍓 strawberry
🫐 blueberries
🍒 cherries
🍑 peach
🥭 mango
🍍 pineapple
🥥 coconut
🥝 kiwi_fruit kiwi
🍅 tomato
🍆 eggplant aubergine
🥑 avocado
🥦 broccoli
🥕 carrot
🌽 ear_of_corn corn
🥔 potato
🧄 garlic
🧅 onion
🥐 croissant
🍞 bread
🥖 baguette_bread baguette
🥨 pretzel
🧀 cheese_wedge cheese
🥚 egg
🍳 cooking fried_egg
🥞 pancakes
🧇 waffle
🥓 bacon
🍗 poultry_leg
🍖 meat_on_bone
🌭 hot_dog hotdog
🍔 hamburger burger
🍟 french_fries fries
🍕 pizza
🥪 sandwich
🌮 taco
🌯 burrito
🥗 green_salad salad
🍝 spaghetti pasta
🍜 steaming_bowl ramen
🍲 pot_of_food stew
🍣 sushi
🍱 bento_box bento
🥟 dumpling
🍤 fried_shrimp
🍙 rice_ball
🍚 cooked_rice rice
🍦 soft_ice_cream icecream
🍨 ice_cream
🍩 doughnut donut
🍪 cookie
🎂 birthday_cake birthday
🍰 shortcake cake
🧁 cupcake
🥧 pie
🍫 chocolate_bar chocolate
🍬 candy
🍭 lollipop
🍯 honey_pot honey
🍿 popcorn
☕ hot_beverage coffee
🍵 teacup_without_handle tea
🧃 beverage_box juice_box
🥤 cup_with_straw
🧋 bubble_tea boba
🍺 beer_mug beer
🍻 clinking_beer_mugs beers cheers
🥂 clinking_glasses champagne_glasses toast
🍷 wine_glass wine
🍸 cocktail_glass cocktail
🍹 tropical_drink
🍾 bottle_with_popping_cork champagne
🥛 glass_of_milk milk
🧂 salt
🍴 fork_and_knife
`,
  activities: `
⚽ soccer_ball soccer football
🏀 basketball
🏈 american_football
⚾ baseball
🎾 tennis
🏐 volleyball
🏉 rugby_football rugby
🎱 pool_8_ball 8ball
🏓 ping_pong table_tennis
🏸 badminton
🥅 goal_net
⛳ flag_in_hole golf
🏒 ice_hockey hockey
🏏 cricket_game cricket
🥊 boxing_glove
🥋 martial_arts_uniform
🎿 skis ski
🏂 snowboarder
🚴 person_biking bicyclist cycling
🏊 person_swimming swimmer swimming
🏄 person_surfing surfer
🧗 person_climbing climbing
🏆 trophy
🥇 first_place_medal gold_medal
🥈 second_place_medal silver_medal
🥉 third_place_medal bronze_medal
🏅 sports_medal medal
🎫 ticket
🎪 circus_tent
🎭 performing_arts theater
🎨 artist_palette art
🎬 clapper_board clapper movie
🎤 microphone mic
🎧 headphone headphones
🎼 musical_score
🎹 musical_keyboard piano
🥁 drum
🎷 saxophone
🎺 trumpet
🎸 guitar
🎻 violin
🎲 game_die dice
🎯 bullseye direct_hit dart
🎳 bowling
🎮 video_game
🧩 puzzle_piece jigsaw puzzle
🎉 party_popper tada
🎊 confetti_ball
🎈 balloon
🎁 wrapped_gift gift present
🎀 ribbon
🎃 jack_o_lantern pumpkin halloween
🎆 fireworks
🎇 sparkler
`,
  travel: `
🚗 automobile car red_car
🚕 taxi
🚙 sport_utility_vehicle suv blue_car
🚌 bus
🚎 trolleybus
🚓 police_car
🚑 ambulance
🚒 fire_engine
🚐 minibus
🚚 delivery_truck truck
🚜 tractor
🛵 motor_scooter scooter
🚲 bicycle bike
🛴 kick_scooter
🚨 police_car_light rotating_light siren
🚦 vertical_traffic_light traffic_light
🚧 construction
⚓ anchor
⛵ sailboat
🚤 speedboat
🚢 ship
🛫 airplane_departure
🛬 airplane_arrival
🚁 helicopter
🚀 rocket
🛸 flying_saucer ufo
🚂 locomotive steam_locomotive
🚆 train
🚇 metro subway
🚉 station
🧭 compass
🌋 volcano
🗻 mount_fuji
🏠 house home
🏡 house_with_garden
🏢 office_building office
🏥 hospital
🏦 bank
🏨 hotel
🏫 school
🏰 castle
🗼 tokyo_tower
🗽 statue_of_liberty
⛪ church
🕌 mosque
🕍 synagogue
⛲ fountain
⛺ tent
🌃 night_with_stars
🌆 cityscape_at_dusk city_sunset
🌅 sunrise
🌄 sunrise_over_mountains
🎡 ferris_wheel
🎢 roller_coaster
⏰ alarm_clock
⌛ hourglass_done hourglass
⏳ hourglass_not_done hourglass_flowing_sand
⌚ watch
`,
  objects: `
📱 mobile_phone phone iphone
💻 laptop computer
💾 floppy_disk floppy save
💿 optical_disk cd
📷 camera
📸 camera_with_flash
🎥 movie_camera
📺 television tv
📻 radio
🔋 battery
🔌 electric_plug plug
💡 light_bulb bulb idea
🔦 flashlight
📚 books
📖 open_book book
📝 memo note
📎 paperclip
📌 pushpin pin
📍 round_pushpin
📁 file_folder folder
📅 calendar date
📈 chart_increasing chart_with_upwards_trend
📉 chart_decreasing chart_with_downwards_trend
📊 bar_chart
📋 clipboard
📦 package
📫 closed_mailbox_with_raised_flag mailbox
📧 e_mail email
📣 megaphone mega
📢 loudspeaker
🔔 bell
🔕 bell_with_slash no_bell
🔒 locked lock
🔓 unlocked unlock
🔑 key
🔨 hammer
🪓 axe
🔧 wrench
🔩 nut_and_bolt
🧰 toolbox
🧲 magnet
🔬 microscope
🔭 telescope
💊 pill
💉 syringe
🧪 test_tube
🧬 dna
🩹 adhesive_bandage bandage
🧹 broom
🛒 shopping_cart
💰 money_bag moneybag
💵 dollar_banknote dollar
💳 credit_card
💎 gem_stone gem diamond
🔗 link
🧸 teddy_bear
🪄 magic_wand
🔮 crystal_ball
🎩 top_hat tophat
👑 crown
👓 glasses eyeglasses
👕 t_shirt shirt tshirt
👖 jeans
👗 dress
👟 running_shoe sneaker
🎒 backpack school_satchel
💼 briefcase
🚪 door
🪑 chair
🚿 shower
🛁 bathtub
🧼 soap
📰 newspaper
`,
  symbols: `
❤️ red_heart heart
🧡 orange_heart
💛 yellow_heart
💚 green_heart
💙 blue_heart
💜 purple_heart
🖤 black_heart
🤍 white_heart
🤎 brown_heart
💔 broken_heart
💕 two_hearts
💞 revolving_hearts
💓 beating_heart heartbeat
💗 growing_heart heartpulse
💖 sparkling_heart
💘 heart_with_arrow cupid
💝 heart_with_ribbon gift_heart
💯 hundred_points 100
💢 anger_symbol anger
💥 collision boom
💫 dizzy
💦 sweat_droplets sweat_drops
💨 dashing_away dash
💬 speech_balloon speech
💭 thought_balloon thought
💤 zzz
✅ check_mark_button white_check_mark check done
❌ cross_mark x_mark
❎ cross_mark_button negative_squared_cross_mark
➕ plus heavy_plus_sign
➖ minus heavy_minus_sign
➗ divide heavy_division_sign
❓ red_question_mark question
❔ white_question_mark grey_question
❗ red_exclamation_mark exclamation
❕ white_exclamation_mark grey_exclamation
🚫 prohibited no_entry_sign
⛔ no_entry
🔞 no_one_under_eighteen underage
🔴 red_circle
🟠 orange_circle
🟡 yellow_circle
🟢 green_circle
🔵 blue_circle
🟣 purple_circle
⚫ black_circle
⚪ white_circle
🟥 red_square
🟩 green_square
🟦 blue_square
⬛ black_large_square
⬜ white_large_square
🔶 large_orange_diamond
🔷 large_blue_diamond
🔺 red_triangle_pointed_up small_red_triangle
🔻 red_triangle_pointed_down small_red_triangle_down
⏩ fast_forward_button fast_forward
⏪ fast_reverse_button rewind
🔀 shuffle_tracks_button shuffle
🔁 repeat_button repeat
🔄 counterclockwise_arrows_button arrows_counterclockwise
🆗 ok_button ok
🆕 new_button new
🆒 cool_button
🆓 free_button free
🆘 sos_button sos
🔝 top_arrow top
🔢 input_numbers 1234
🎵 musical_note
🎶 musical_notes notes
💲 heavy_dollar_sign
💱 currency_exchange
🔆 bright_button high_brightness
🔅 dim_button low_brightness
📶 antenna_bars signal_strength
🔇 muted speaker_off mute
🔊 speaker_high_volume loud_sound
`,
  flags: `
🏁 chequered_flag checkered_flag
🚩 triangular_flag triangular_flag_on_post
🎌 crossed_flags
🏴 black_flag
🇺🇳 flag_united_nations
🇪🇺 flag_european_union
🇦🇷 flag_argentina
🇦🇺 flag_australia
🇦🇹 flag_austria
🇧🇪 flag_belgium
🇧🇷 flag_brazil
🇨🇦 flag_canada
🇨🇳 flag_china
🇩🇰 flag_denmark
🇪🇬 flag_egypt
🇫🇮 flag_finland
🇫🇷 flag_france
🇩🇪 flag_germany
🇬🇷 flag_greece
🇮🇳 flag_india
🇮🇪 flag_ireland
🇮🇹 flag_italy
🇯🇵 flag_japan
🇲🇽 flag_mexico
🇳🇱 flag_netherlands
🇳🇿 flag_new_zealand
🇳🇬 flag_nigeria
🇳🇴 flag_norway
🇵🇱 flag_poland
🇵🇹 flag_portugal
🇿🇦 flag_south_africa
🇰🇷 flag_south_korea
🇪🇸 flag_spain
🇸🇪 flag_sweden
🇨🇭 flag_switzerland
🇹🇷 flag_turkey
🇺🇦 flag_ukraine
🇬🇧 flag_united_kingdom
🇺🇸 flag_united_states
`,
};

/**
 * Emoji written as their character and U+FE0F (shown as pictures, not as text), and the ones
 * built of several characters, which are simpler to read here spelled out.
 */
const SPELLED: readonly [EmojiCategory, string, string][] = [
  ['people', '\u263a\ufe0f', 'smiling_face relaxed'],
  ['people', '\u2639\ufe0f', 'frowning_face white_frowning_face'],
  ['people', '\u2620\ufe0f', 'skull_and_crossbones'],
  ['people', '\u270c\ufe0f', 'victory_hand peace_hand'],
  ['people', '\u261d\ufe0f', 'index_pointing_up'],
  ['people', '\u270d\ufe0f', 'writing_hand'],
  ['people', '\u{1f441}\ufe0f', 'eye'],
  ['people', '\u{1f9d1}\u200d\u{1f4bb}', 'technologist coder'],
  ['nature', '\u{1f577}\ufe0f', 'spider'],
  ['nature', '\u2618\ufe0f', 'shamrock'],
  ['nature', '\u2600\ufe0f', 'sun sunny'],
  ['nature', '\u2601\ufe0f', 'cloud'],
  ['nature', '\u{1f327}\ufe0f', 'cloud_with_rain rain'],
  ['nature', '\u26c8\ufe0f', 'cloud_with_lightning_and_rain thunderstorm'],
  ['nature', '\u2744\ufe0f', 'snowflake'],
  ['nature', '\u2603\ufe0f', 'snowman'],
  ['food', '\u{1f336}\ufe0f', 'hot_pepper chili'],
  ['activities', '\u26f8\ufe0f', 'ice_skate'],
  ['activities', '\u{1f3cb}\ufe0f', 'person_lifting_weights weight_lifting'],
  ['activities', '\u{1f396}\ufe0f', 'military_medal'],
  ['activities', '\u{1f397}\ufe0f', 'reminder_ribbon'],
  ['activities', '\u{1f39f}\ufe0f', 'admission_tickets tickets'],
  ['activities', '\u265f\ufe0f', 'chess_pawn chess'],
  ['activities', '\u{1f579}\ufe0f', 'joystick'],
  ['travel', '\u{1f3ce}\ufe0f', 'racing_car'],
  ['travel', '\u{1f3cd}\ufe0f', 'motorcycle'],
  ['travel', '\u2708\ufe0f', 'airplane plane'],
  ['travel', '\u{1f5fa}\ufe0f', 'world_map map'],
  ['travel', '\u{1f3d4}\ufe0f', 'snow_capped_mountain'],
  ['travel', '\u26f0\ufe0f', 'mountain'],
  ['travel', '\u{1f3d5}\ufe0f', 'camping'],
  ['travel', '\u{1f3d6}\ufe0f', 'beach_with_umbrella beach'],
  ['travel', '\u{1f3dd}\ufe0f', 'desert_island island'],
  ['travel', '\u{1f321}\ufe0f', 'thermometer'],
  ['objects', '\u2328\ufe0f', 'keyboard'],
  ['objects', '\u{1f5a5}\ufe0f', 'desktop_computer'],
  ['objects', '\u{1f5a8}\ufe0f', 'printer'],
  ['objects', '\u{1f5b1}\ufe0f', 'computer_mouse'],
  ['objects', '\u{1f56f}\ufe0f', 'candle'],
  ['objects', '\u270f\ufe0f', 'pencil'],
  ['objects', '\u{1f58a}\ufe0f', 'pen'],
  ['objects', '\u2702\ufe0f', 'scissors'],
  ['objects', '\u2709\ufe0f', 'envelope'],
  ['objects', '\u{1f5dd}\ufe0f', 'old_key'],
  ['objects', '\u2699\ufe0f', 'gear'],
  ['objects', '\u2696\ufe0f', 'balance_scale scales'],
  ['objects', '\u{1f576}\ufe0f', 'dark_sunglasses'],
  ['objects', '\u2602\ufe0f', 'umbrella'],
  ['objects', '\u{1f5d1}\ufe0f', 'wastebasket trash'],
  ['objects', '\u{1f6cf}\ufe0f', 'bed'],
  ['objects', '\u{1f3f7}\ufe0f', 'label tag'],
  ['symbols', '\u2763\ufe0f', 'heart_exclamation'],
  ['symbols', '\u2714\ufe0f', 'check_mark heavy_check_mark'],
  ['symbols', '\u2611\ufe0f', 'check_box_with_check ballot_box_with_check'],
  ['symbols', '\u2716\ufe0f', 'multiply heavy_multiplication_x'],
  ['symbols', '\u203c\ufe0f', 'double_exclamation_mark bangbang'],
  ['symbols', '\u2049\ufe0f', 'exclamation_question_mark interrobang'],
  ['symbols', '\u26a0\ufe0f', 'warning'],
  ['symbols', '\u267b\ufe0f', 'recycling_symbol recycle'],
  ['symbols', '\u25b6\ufe0f', 'play_button arrow_forward'],
  ['symbols', '\u23f8\ufe0f', 'pause_button'],
  ['symbols', '\u23f9\ufe0f', 'stop_button'],
  ['symbols', '\u23fa\ufe0f', 'record_button'],
  ['symbols', '\u2b06\ufe0f', 'up_arrow arrow_up'],
  ['symbols', '\u2b07\ufe0f', 'down_arrow arrow_down'],
  ['symbols', '\u2b05\ufe0f', 'left_arrow arrow_left'],
  ['symbols', '\u27a1\ufe0f', 'right_arrow arrow_right'],
  ['symbols', '\u21a9\ufe0f', 'right_arrow_curving_left leftwards_arrow_with_hook'],
  ['symbols', '\u2139\ufe0f', 'information information_source'],
  ['symbols', '#\ufe0f\u20e3', 'keycap_number_sign hash'],
  ['symbols', '\u00a9\ufe0f', 'copyright'],
  ['symbols', '\u00ae\ufe0f', 'registered'],
  ['symbols', '\u2122\ufe0f', 'trade_mark tm'],
  ['symbols', '\u262e\ufe0f', 'peace_symbol peace'],
  ['symbols', '\u262f\ufe0f', 'yin_yang'],
  ['symbols', '\u267e\ufe0f', 'infinity'],
  ['symbols', '\u269b\ufe0f', 'atom_symbol atom'],
  ['flags', '\u{1f3f3}\ufe0f', 'white_flag'],
  ['flags', '\u{1f3f3}\ufe0f\u200d\u{1f308}', 'rainbow_flag pride'],
  ['flags', '\u{1f3f3}\ufe0f\u200d\u26a7\ufe0f', 'transgender_flag'],
  ['flags', '\u{1f3f4}\u200d\u2620\ufe0f', 'pirate_flag'],
];

function build(): StandardEmoji[] {
  const out: StandardEmoji[] = [];
  for (const { id } of CATEGORIES) {
    for (const line of DATA[id].split('\n')) {
      const [char, ...names] = line.trim().split(/\s+/);
      if (char && names.length) out.push({ char, names, category: id });
    }
    for (const [category, char, names] of SPELLED) {
      if (category === id) out.push({ char, names: names.split(' '), category });
    }
  }
  return out;
}

/** Every standard emoji, category by category. */
export const STANDARD_EMOJI: readonly StandardEmoji[] = build();
