window.YTD.direct_messages_group.part0 = [
  {
    "dmConversation" : {
      "conversationId" : "1600000000000000000",
      "messages" : [
        {
          "joinConversation" : {
            "initiatingUserId" : "2001",
            "participantsSnapshot" : [ "1000", "2001", "2002" ],
            "createdAt" : "2023-05-01T09:00:00.000Z"
          }
        },
        {
          "participantsJoin" : {
            "initiatingUserId" : "2001",
            "userIds" : [ "2005" ],
            "createdAt" : "2023-05-01T09:01:00.000Z"
          }
        },
        {
          "conversationNameUpdate" : {
            "initiatingUserId" : "2001",
            "name" : "Meetup crew",
            "createdAt" : "2023-05-01T09:02:00.000Z"
          }
        },
        {
          "messageCreate" : {
            "reactions" : [ ],
            "urls" : [ ],
            "text" : "Welcome all",
            "mediaUrls" : [ ],
            "senderId" : "2001",
            "id" : "1600000000000000010",
            "createdAt" : "2023-05-01T09:03:00.000Z",
            "editHistory" : [ ]
          }
        },
        {
          "messageCreate" : {
            "text" : "Glad to be here",
            "senderId" : "1000",
            "id" : "1600000000000000011",
            "createdAt" : "2023-05-01T09:04:00.000Z"
          }
        }
      ]
    }
  }
]
